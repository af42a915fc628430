// checkSnapshot in a worker thread, for the daemon: integrity_check reads every page of the
// snapshot (about 120 ms per 250 MB here), which must not stall intake and delivery.

import { parentPort } from 'node:worker_threads';
import { checkSnapshot } from './snapshot-check.js';

parentPort!.on('message', (m: { id: number; job: { path: string; stampAt: string } }) => {
  try {
    parentPort!.postMessage({ id: m.id, result: checkSnapshot(m.job.path, m.job.stampAt) });
  } catch (err) {
    parentPort!.postMessage({ id: m.id, error: (err as Error).message });
  }
});
