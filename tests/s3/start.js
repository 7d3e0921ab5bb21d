#!/usr/bin/env node
// Starts s3rver, a real S3-compatible server, on loopback for the S3 artifact tests:
//
//   node tests/s3/start.js --port PORT --directory DIR [--bucket NAME]
//
// PORT 0 picks a free port. Creates the bucket, then prints one line
// "ready http://127.0.0.1:PORT" on stdout and serves until SIGTERM or SIGINT.
// Credentials: s3rver's built-in account, access key S3RVER, secret S3RVER.
'use strict';

const S3rver = require('s3rver');

function option(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  if (fallback === undefined) {
    console.error(`usage: start.js --port PORT --directory DIR [--bucket NAME] (missing --${name})`);
    process.exit(2);
  }
  return fallback;
}

async function main() {
  const server = new S3rver({
    address: '127.0.0.1',
    port: Number(option('port')),
    directory: option('directory'),
    configureBuckets: [{ name: option('bucket', 'quiver-test') }],
    // Path-style URLs only (ENDPOINT/BUCKET/KEY), as the client sends them.
    vhostBuckets: false,
    silent: true,
  });
  const { port } = await server.run();
  const stop = () => server.close().then(() => process.exit(0), () => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  console.log(`ready http://127.0.0.1:${port}`);
}

main().catch((err) => {
  console.error('s3rver failed to start:', err);
  process.exit(1);
});
