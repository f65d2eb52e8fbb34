// @taskhost/sdk: write taskhost handler plugins in TypeScript or
// JavaScript. A plugin is a Node program that hands its methods to serve:
//
//   import { serve, permanent } from '@taskhost/sdk';
//
//   serve({
//     async resize(ctx, task, payload) {
//       ctx.progress(50, 'halfway');
//       return { imageId: payload.imageId };
//     },
//   });
//
// It speaks the same protocol as a Go plugin (shared/proto/worker.proto
// over go-plugin), so the host gives it every guarantee a Go plugin has.

export { serve, type ServeOptions } from './serve.js';
export { permanent, isPermanent, TaskError, ErrorName } from './errors.js';
export type { Context, Method, Methods, Task } from './worker.js';
export { createWorker, CancelledError, TimeoutError, Worker, type Call, type Outcome, type ProgressEvent } from './worker.js';
export { newLogger, type Logger, type Fields } from './log.js';
