// Builds dist/: the protocol files, then the TypeScript. The worker
// protocol is read from the repository's one contract,
// shared/proto/worker.proto, and copied into dist/proto at every build, so
// that the package never keeps a second copy of it in git.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const dist = join(root, 'dist');
mkdirSync(join(dist, 'proto'), { recursive: true });
copyFileSync(join(root, '..', '..', 'shared', 'proto', 'worker.proto'), join(dist, 'proto', 'worker.proto'));
for (const f of ['goplugin.proto', 'health.proto']) copyFileSync(join(root, 'proto', f), join(dist, 'proto', f));

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
try {
  execFileSync(process.execPath, [tsc, '-p', root], { stdio: 'inherit' });
} catch (err) {
  process.exit(err.status ?? 1); // tsc has said why
}

// The host refuses to run a script that its group or others may write,
// whatever the umask made of the files.
(function protect(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) protect(p);
    chmodSync(p, st.mode & 0o7755);
  }
})(dist);
