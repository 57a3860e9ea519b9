import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { get as httpsGet } from 'node:https'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Etcd3 } from 'etcd3'
import { freeze } from './wait.ts'

/** A real etcd (Debian's etcd-server) on free loopback ports, with a client to seed it. */
export interface EtcdProcess {
  endpoint: string
  client: Etcd3
  /** Stops etcd (SIGSTOP-free: the process exits), keeping its data directory. */
  stop: () => Promise<void>
  /** Starts etcd again on the same ports and data. */
  start: () => Promise<void>
  /** Freezes etcd (SIGSTOP): connections stay open and nothing answers, as with a hung host. */
  pause: () => void
  /** Thaws a paused etcd (SIGCONT). */
  resume: () => void
  destroy: () => Promise<void>
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

const ETCD_BINARY = process.env.ETCD_BINARY ?? '/usr/bin/etcd'

/** PEM files for an etcd serving https:// and requiring client certificates signed by caFile. */
export interface EtcdTlsFixture {
  caFile: string
  serverCertFile: string
  serverKeyFile: string
  /** The client certificate the test's own seeding client presents. */
  clientCertFile: string
  clientKeyFile: string
}

export async function startEtcd (extraArgs: string[] = [], options: { tls?: EtcdTlsFixture } = {}): Promise<EtcdProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kafscale-mcp-etcd-'))
  const clientPort = await freePort()
  const peerPort = await freePort()
  const { tls } = options
  const endpoint = `${tls !== undefined ? 'https' : 'http'}://127.0.0.1:${clientPort}`
  const tlsArgs = tls !== undefined
    ? ['--cert-file', tls.serverCertFile, '--key-file', tls.serverKeyFile, '--client-cert-auth', '--trusted-ca-file', tls.caFile]
    : []
  const clientTls = tls !== undefined
    ? { ca: readFileSync(tls.caFile), cert: readFileSync(tls.clientCertFile), key: readFileSync(tls.clientKeyFile) }
    : undefined
  const healthy = async (): Promise<boolean> => {
    if (clientTls === undefined) return (await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(500) })).ok
    return await new Promise((resolve) => {
      const req = httpsGet(`${endpoint}/health`, { ...clientTls, timeout: 500 }, (res) => { res.resume(); resolve(res.statusCode === 200) })
      req.on('error', () => resolve(false))
      req.on('timeout', () => { req.destroy() })
    })
  }
  let child: ChildProcess | undefined
  let stderr = ''

  const start = async (): Promise<void> => {
    stderr = ''
    child = spawn(ETCD_BINARY, [
      '--name', 'test', '--data-dir', dataDir,
      '--listen-client-urls', endpoint, '--advertise-client-urls', endpoint,
      '--listen-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
      '--initial-cluster', `test=http://127.0.0.1:${peerPort}`,
      '--log-level', 'error', '--logger', 'zap', ...tlsArgs, ...extraArgs
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    const deadline = Date.now() + 15_000
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`etcd exited with ${child.exitCode}: ${stderr}`)
      try {
        if (await healthy()) return
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`etcd did not become healthy: ${stderr}`)
  }

  const stop = async (): Promise<void> => {
    const c = child
    if (c === undefined || c.exitCode !== null) return
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve())
      c.kill('SIGKILL')
    })
  }

  await start()
  const client = new Etcd3({
    hosts: endpoint,
    ...(clientTls !== undefined ? { credentials: { rootCertificate: clientTls.ca, certChain: clientTls.cert, privateKey: clientTls.key } } : {}),
    grpcOptions: { 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.max_send_message_length': 256 * 1024 * 1024 }
  })
  return {
    endpoint,
    client,
    stop,
    start,
    pause: () => { if (child !== undefined) freeze(child) },
    resume: () => { child?.kill('SIGCONT') },
    destroy: async () => {
      child?.kill('SIGCONT')
      client.close()
      await stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }
}
