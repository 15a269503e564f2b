export { WorkerHub, type WorkerHubOptions, type WorkerLink } from './worker-hub';
export { createWorkerGateway, type WorkerGatewayOptions, type PrimaryLink } from './worker-gateway';
export { RemoteConfig } from './remote-config';
export { mergeExpositions } from './metrics-merge';
export { LeasedCounter, LimitServer, remoteLimits, type LimitRequests, type CountGrant } from './limits';
export { isPorticoMessage, type Channel, type ToPrimary, type ToWorker, type SyncStatus } from './protocol';
