import { tearDownRunCapture } from './log-capture';

/** jest `globalTeardown` (jest.config.ts): see tearDownRunCapture. */
export default function globalTeardown(): Promise<void> {
  return tearDownRunCapture();
}
