export * from './defaults';
export * from './load';
export * from './substitute';
