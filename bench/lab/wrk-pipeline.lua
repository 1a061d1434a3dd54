-- wrk script: each write carries WRK_DEPTH requests, so that many are in
-- flight per connection (wrk counts every response as a request).
local depth = tonumber(os.getenv("WRK_DEPTH") or "1")

init = function(args)
  local requests = {}
  for i = 1, depth do requests[i] = wrk.format(nil, "/") end
  pipelined = table.concat(requests)
end

request = function()
  return pipelined
end
