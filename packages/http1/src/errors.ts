/**
 * An error of the upstream client. The codes are undici's for the same situations
 * (UND_ERR_INVALID_ARG, UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT, UND_ERR_SOCKET,
 * UND_ERR_CLOSED, UND_ERR_DESTROYED), so the proxy maps failures of both clients to the same
 * status and message. Socket and parser errors pass through with their own codes
 * (ECONNREFUSED, HPE_*).
 */
export class ClientError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'ClientError';
  }
}
