/**
 * The private PostgreSQL cluster driver really does what it says: it is not the shared 5432
 * instance, it listens on 127.0.0.1 only, an immediate restart breaks an open connection and the
 * server accepts new ones once back, pg_terminate_backend kills the targeted connection (and
 * only it), and destroy leaves no process and no directory behind.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { startPrivateCluster, type PrivateCluster } from '../src/faults/pg-cluster.js';
import { isAlive } from '../src/faults/nemesis.js';

const clusters: PrivateCluster[] = [];
const clients: pg.Client[] = [];
after(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await Promise.all(clusters.map((c) => c.destroy()));
});

async function connect(cluster: PrivateCluster, applicationName = 'faults-test'): Promise<pg.Client & { errors: Error[] }> {
  const client = Object.assign(new pg.Client({ connectionString: cluster.connectionString(), application_name: applicationName }), { errors: [] as Error[] });
  client.on('error', (e) => client.errors.push(e));
  clients.push(client);
  await client.connect();
  return client;
}


describe('private PostgreSQL cluster', () => {
  it('starts its own server on 127.0.0.1, restarts it (immediate and fast), and terminates backends', { timeout: 120_000 }, async () => {
    const recorded: Array<Record<string, unknown>> = [];
    const healed: string[] = [];
    const cluster = await startPrivateCluster({
      recorder: { faultStarted: (a) => (recorded.push(a), () => healed.push(a.fault)) },
    });
    clusters.push(cluster);
    assert.notEqual(cluster.port, 5432);
    assert.ok(existsSync(`${cluster.dir}/data/PG_VERSION`));
    assert.match(readFileSync(`${cluster.dir}/data/PG_VERSION`, 'utf8'), /^15/);

    const c1 = await connect(cluster);
    const settings = await c1.query<{ a: string; d: string; s: string }>(
      `SELECT current_setting('listen_addresses') a, current_setting('data_directory') d, current_setting('unix_socket_directories') s`,
    );
    assert.equal(settings.rows[0]!.a, '127.0.0.1');
    assert.equal(settings.rows[0]!.d, `${cluster.dir}/data`);
    assert.equal(settings.rows[0]!.s, cluster.dir);
    const firstPid = cluster.pid();
    assert.ok(firstPid !== null && isAlive(firstPid));

    // Immediate restart: the open connection is broken; a new one works once the server is back.
    await cluster.restart('immediate', 300);
    await assert.rejects(c1.query('SELECT 1'));
    const c2 = await connect(cluster);
    assert.equal((await c2.query<{ v: number }>('SELECT 1 AS v')).rows[0]!.v, 1);
    assert.notEqual(cluster.pid(), firstPid, 'a new postmaster');

    // Fast restart, same story.
    await cluster.restart('fast', 100);
    await assert.rejects(c2.query('SELECT 1'));

    // Down means down: connecting while stopped is refused.
    await cluster.stop('fast');
    await assert.rejects(connect(cluster));
    await cluster.start();

    const c4 = await connect(cluster, 'victim');
    const c5 = await connect(cluster, 'bystander');
    assert.equal(await cluster.terminateBackends({ applicationName: 'victim' }), 1);
    await assert.rejects(c4.query('SELECT 1'), /terminat|Connection/i);
    assert.equal((await c5.query<{ v: number }>('SELECT 2 AS v')).rows[0]!.v, 2, 'the other application is untouched');
    assert.equal(await cluster.terminateBackends(), 1, 'unfiltered: every client backend but the admin');
    await assert.rejects(c5.query('SELECT 1'));

    assert.deepEqual(recorded.map((r) => r.fault), ['pg_restart', 'pg_restart', 'pg_terminate_backends', 'pg_terminate_backends']);
    assert.deepEqual(recorded[0]!.mode, 'immediate');
    assert.deepEqual(healed, recorded.map((r) => r.fault));
  });

  it('destroy stops the server and removes its directory', { timeout: 60_000 }, async () => {
    const cluster = await startPrivateCluster();
    clusters.push(cluster);
    const pid = cluster.pid();
    assert.ok(pid !== null);
    const client = await connect(cluster);
    await cluster.destroy();
    assert.equal(existsSync(cluster.dir), false);
    assert.equal(isAlive(pid), false);
    await assert.rejects(client.query('SELECT 1'));
    await cluster.destroy(); // idempotent
  });
});
