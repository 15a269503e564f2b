export * from './args';
export * from './start';
export * from './cluster-node';
