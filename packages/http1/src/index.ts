export { ClientError } from './errors';
export type { UpstreamHandler } from './handler';
export { isName, lowerName } from './header-names';
export { validHost } from './host';
export { atBatchEnd } from './write-batch';
export { nativeParserAvailable } from './native-parser';
export { H1Pool, type H1PoolOptions, type H1TlsOptions } from './pool';
export type { UpstreamRequest } from './request-head';
export {
  H1Server, ownServerAvailable, ServerRequest, ServerResponse,
  type H1ServerOptions, type RequestListener, type UpgradeListener,
} from './server';
