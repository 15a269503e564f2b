import type { Config } from 'jest';

// Tests import workspace packages from source (no build needed for unit tests);
// end-to-end tests spawn the built CLI, so `make test` runs `tsc -b` first.
const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/packages'],
  testMatch: ['**/test/**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: {
    '^@portico/([a-z0-9]+)$': '<rootDir>/packages/$1/src',
  },
  testTimeout: 60000,
  maxWorkers: 2,
  // Secret-leak scan of every log line of the run: see packages/testkit/src/log-capture.ts.
  globalSetup: '<rootDir>/packages/testkit/src/log-capture-jest-setup.ts',
  globalTeardown: '<rootDir>/packages/testkit/src/log-capture-jest-teardown.ts',
  setupFiles: ['<rootDir>/packages/testkit/src/log-capture-jest-worker.ts'],
};

export default config;
