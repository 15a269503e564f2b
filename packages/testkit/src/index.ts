export * from './aws-secrets-emulator';
export * from './echo-upstream';
export * from './etcd';
export * from './free-port';
export * from './portico-process';
export * from './tcp-proxy';
export * from './wait-for';
