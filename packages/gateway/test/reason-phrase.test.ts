import './helpers/quiet-logs';
import { startHarness } from './helpers/harness';
import { reasonPhraseCases } from './helpers/reason-phrase-cases';

describe('upstream reason phrases through the own HTTP/1.1 server', () => {
  reasonPhraseCases(() => startHarness());
});
