// The protocols a server can speak, by the name the CLI takes. Each entry
// makes the factory for one server, so state such as RESP's store is per server.
import type { ProtocolFactory } from '../net/protocol.js';
import { echoProtocol } from './echo.js';
import { httpProtocol } from './http.js';
import { respProtocol } from './resp.js';

export type ProtocolName = 'echo' | 'resp' | 'http';

export const protocols: Readonly<Record<ProtocolName, () => ProtocolFactory>> = {
  echo: () => echoProtocol,
  resp: () => respProtocol(),
  http: () => httpProtocol(),
};

export { echoProtocol } from './echo.js';
export { respProtocol, type RespOptions, type RespProtocolFactory } from './resp.js';
export {
  httpProtocol,
  type HttpOptions,
  type HttpProtocolFactory,
  type HttpHandler,
  type UpgradeHandler,
  type HttpRequest,
  type HttpResponse,
  type IncomingHeaders,
  type OutgoingHeaders,
  type OutgoingValue,
} from './http.js';
