// Before any gateway module loads: the server is chosen when proxy.ts is first imported.
process.env.PORTICO_HTTP_SERVER = 'node';
import './helpers/quiet-logs';
import { startHarness } from './helpers/harness';
import { reasonPhraseCases } from './helpers/reason-phrase-cases';

describe('upstream reason phrases through node:http\'s server', () => {
  reasonPhraseCases(() => startHarness());
});
