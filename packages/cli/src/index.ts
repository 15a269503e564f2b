export * from './args';
export * from './start';
