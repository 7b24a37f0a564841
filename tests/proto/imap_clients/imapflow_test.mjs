// imapflow against letterbox-imapd: connect over TLS, list, fetch, store
// flags; prints one JSON object for test_imap_clients.py to check.
// Usage: node imapflow_test.mjs PORT USER PASS  (NODE_PATH: imapflow's dir)
// SPDX-License-Identifier: ISC
import { createRequire } from 'node:module';
const require = createRequire(process.env.IMAPFLOW_DIR + '/');
const { ImapFlow } = require('imapflow');

const [port, user, pass] = process.argv.slice(2);
const client = new ImapFlow({
    host: '127.0.0.1', port: Number(port), secure: true,
    tls: { rejectUnauthorized: false }, auth: { user, pass }, logger: false,
});
const out = {};
await client.connect();
out.list = (await client.list()).map(m => ({ path: m.path,
    specialUse: m.specialUse || null })).sort((a, b) =>
    a.path < b.path ? -1 : 1);
const lock = await client.getMailboxLock('INBOX');
try {
    out.exists = client.mailbox.exists;
    out.messages = [];
    for await (const m of client.fetch('1:*', { uid: true, flags: true,
        envelope: true, bodyStructure: true, source: true })) {
        out.messages.push({ seq: m.seq, uid: m.uid, flags: [...m.flags].sort(),
            subject: m.envelope.subject,
            from: m.envelope.from.map(a => a.address),
            type: m.bodyStructure.type, size: m.bodyStructure.size,
            source: m.source.toString('latin1') });
    }
    out.stored = await client.messageFlagsAdd('1', ['\\Flagged', '$Label1']);
    const after = await client.fetchOne('1', { flags: true });
    out.flagsAfter = [...after.flags].sort();
} finally {
    lock.release();
}
await client.logout();
console.log(JSON.stringify(out));
