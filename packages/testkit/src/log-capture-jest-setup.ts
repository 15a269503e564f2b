import { setUpRunCapture } from './log-capture';

/** jest `globalSetup` (jest.config.ts): see setUpRunCapture. */
export default function globalSetup(): void {
  setUpRunCapture();
}
