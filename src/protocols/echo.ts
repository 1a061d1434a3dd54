// Echo: every byte back to its sender. When the peer finishes sending, the
// connection closes once the echo of everything it sent has been written.
import type { Protocol, ProtocolFactory } from '../net/protocol.js';

const echo: Protocol = {
  data(connection, bytes) {
    connection.write(bytes);
  },
};

/** Stateless, so every connection shares one protocol object. */
export const echoProtocol: ProtocolFactory = () => echo;
