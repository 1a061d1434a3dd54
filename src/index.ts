export {
  EventLoop,
  BACKENDS,
  DEFAULT_MAX_EVENTS,
  DEFAULT_MAX_FDS,
  DEFAULT_ACCEPTS_PER_EVENT,
  MAX_EVENTS_LIMIT,
  MAX_FDS_LIMIT,
  type Backend,
  type Trigger,
  type EventLoopOptions,
  type ClientHandlers,
  type ClientOptions,
  type Interest,
  type AcceptHandler,
  type ServerSocketOptions,
  type RemoveOptions,
} from './event-loop.js';
export { SocketManager, DEFAULT_BACKLOG, WRITEV_MAX, type ListenOptions, type AcceptOptions, type ShutdownHow } from './socket-manager.js';
export { WasmloopError, type SystemError } from './errors.js';
export {
  Server,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_READ_BUFFER_SIZE,
  READS_PER_EVENT,
  ACCEPT_PAUSE_MS,
  type ServerOptions,
  type ServerStats,
  type ProtocolFactory,
} from './server.js';
export { Connection, type Protocol, type CloseReason } from './connection.js';
export {
  protocols,
  echoProtocol,
  respProtocol,
  httpProtocol,
  type ProtocolName,
  type RespOptions,
  type RespProtocolFactory,
  type HttpOptions,
  type HttpProtocolFactory,
} from './protocols/index.js';
