export { EventLoop } from './loop/event-loop.js';
export { BACKEND_NAMES as BACKENDS, type BackendName } from './kernel/backend.js';
export {
  DEFAULT_MAX_EVENTS,
  DEFAULT_MAX_FDS,
  DEFAULT_ACCEPTS_PER_EVENT,
  MAX_EVENTS_LIMIT,
  MAX_FDS_LIMIT,
  DEFAULT_CALLBACKS_PER_ITERATION,
  DEFAULT_ITERATION_BUDGET_MS,
  DEFAULT_MAX_REPOLLS,
  DEFAULT_MAX_DEFERRED,
  DEFAULT_SLOW_CALLBACK_MS,
  DEFAULT_TRACE_ENTRIES,
  DEFAULT_PRIORITY,
  PRIORITY_LOWEST,
  type Logger,
  type EventLoopOptions,
} from './loop/options.js';
export type { CallbackContext, CallbackKind, SlowCallback } from './loop/callbacks.js';
export type {
  Trigger,
  RegistrationOptions,
  WatchOptions,
  DeferOptions,
  ClientHandlers,
  ClientOptions,
  Interest,
  AcceptHandler,
  ServerSocketOptions,
  RemoveOptions,
} from './loop/registration.js';
export { Watcher, type WatchEvent, type WatchHandler, type WatchInterest } from './loop/watcher.js';
export { Deferred } from './loop/deferred.js';
export {
  Timer,
  MISSED_TICK_POLICIES,
  DEFAULT_TIMER_DELAY_MS,
  type MissedTickPolicy,
  type TimerOptions,
  type IntervalOptions,
  type TimeoutOptions,
  type SleepOptions,
} from './loop/timer.js';
export { TIMEOUTS_PER_CLOCK_READ } from './loop/timer-pass.js';
export { DEFAULT_MAX_TIMERS, MAX_TIMERS_LIMIT } from './core/loader.js';
export { RemoteHandle, DEFAULT_REMOTE_QUEUE, type RemoteHandleData } from './loop/remote.js';
export type { LoopMetrics, Percentiles } from './loop/metrics.js';
export type { TraceEntry } from './loop/trace.js';
export type { KernelBackend, EventsRegion } from './kernel/backend.js';
export {
  sockets,
  SocketManager,
  DEFAULT_BACKLOG,
  WRITEV_MAX,
  UNIX_PATH_MAX,
  type Sockets,
  type ListenOptions,
  type AcceptOptions,
  type ShutdownHow,
  type SocketAddress,
} from './net/sockets.js';
export { WasmloopError, type SystemError } from './errors.js';
export {
  Server,
  DEFAULT_HIGH_WATER_MARK,
  DEFAULT_READ_BUFFER_SIZE,
  READS_PER_EVENT,
  ACCEPT_PAUSE_MS,
  ACCEPT_PAUSE_MAX_MS,
  LINGER_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_SHUTDOWN_MS,
  type ServerOptions,
  type ServerStats,
  type ServerEvents,
  type ListenAddress,
} from './net/server.js';
export { Connection, type CloseReason, type ConnectionEventMap } from './net/connection.js';
export { connect, DEFAULT_CONNECT_TIMEOUT_MS, type ConnectTarget, type ConnectOptions, type LookupFunction } from './net/connect.js';
export type { Protocol, ProtocolFactory } from './net/protocol.js';
export { renderPrometheus, type PrometheusOptions } from './serve/prometheus.js';
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
  type HttpHandler,
  type UpgradeHandler,
  type HttpRequest,
  type HttpResponse,
  type IncomingHeaders,
  type OutgoingHeaders,
  type OutgoingValue,
} from './protocols/index.js';
