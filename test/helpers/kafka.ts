import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin, FindCoordinatorKeyTypes } from '@platformatic/kafka'
import { freePort } from './etcd.ts'
import { freeze } from './wait.ts'

/** A real Apache Kafka 4.1.1 (KRaft, one node that is broker and controller) on free loopback ports. */
export interface KafkaPeer {
  /** host:port of the PLAINTEXT listener. */
  bootstrap: string
  /** A plain @platformatic/kafka Admin on this broker, to set up and check state without the code under test; closed by stop(). */
  admin: () => Admin
  /** Freezes the JVM (SIGSTOP): connections stay open and nothing answers, as with a hung host. */
  pause: () => void
  /** Thaws a paused broker (SIGCONT). */
  resume: () => void
  /** Kills the broker and removes its data. */
  stop: () => Promise<void>
}

const ROOT = new URL('../..', import.meta.url).pathname
const LIBS = process.env.KAFKA_LIBS ?? join(ROOT, '.cache/kafka/lib')
// Measured: about 2 s alone, about 15 s on a busy machine; two tap jobs on 2 cores can stretch
// that several times, so the wait is generous and a failure shows the broker's own log.
const READY_WITHIN_MS = 120_000
const LOG_TAIL_LINES = 40

export async function startKafka (): Promise<KafkaPeer> {
  if (!existsSync(LIBS) || !readdirSync(LIBS).some((name) => name.startsWith('kafka_2.13-'))) {
    throw new Error(`no Kafka jars in ${LIBS}: run 'bash scripts/ensure-kafka.sh' (or set KAFKA_LIBS)`)
  }
  const dir = mkdtempSync(join(tmpdir(), 'kafscale-mcp-kafka-'))
  const brokerPort = await freePort()
  const controllerPort = await freePort()
  const bootstrap = `127.0.0.1:${brokerPort}`
  const properties = join(dir, 'server.properties')
  writeFileSync(properties, [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${controllerPort}`,
    `listeners=PLAINTEXT://${bootstrap},CONTROLLER://127.0.0.1:${controllerPort}`,
    `advertised.listeners=PLAINTEXT://${bootstrap}`,
    'controller.listener.names=CONTROLLER',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    'inter.broker.listener.name=PLAINTEXT',
    `log.dirs=${join(dir, 'data')}`,
    'num.partitions=1',
    'default.replication.factor=1',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    // KafScale auto-creates topics named in a Metadata request: so does this peer, so a test can
    // prove that the code under test never names an unchecked topic.
    'auto.create.topics.enable=true',
    'group.initial.rebalance.delay.ms=0',
    ''
  ].join('\n'))
  const logFile = join(dir, 'kafka.log')
  const logTail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-LOG_TAIL_LINES).join('\n')
    } catch {
      return '(no log)'
    }
  }
  const java = (args: string[]): ChildProcess => {
    const log = openSync(logFile, 'a')
    try {
      return spawn('java', ['-cp', `${LIBS}/*`, ...args], { stdio: ['ignore', log, log] })
    } finally {
      closeSync(log)
    }
  }
  const exited = async (child: ChildProcess): Promise<number | null> => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode
    return await new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  const formatCode = await exited(java(['kafka.tools.StorageTool', 'format', '-t', clusterId(), '-c', properties]))
  if (formatCode !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`Kafka's storage format step exited with ${formatCode}:\n${logTail()}`)
  }

  const broker = java(['-Xmx512m', 'kafka.Kafka', properties])
  const killBroker = (): void => { broker.kill('SIGKILL') }
  process.once('exit', killBroker)
  // The 'exit' event does not come when this process is killed by a signal (a tap timeout):
  // a watchdog outside it kills the broker and removes its data once this process is gone.
  const watchdog = spawn('sh', ['-c', `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; kill -9 ${broker.pid} 2>/dev/null; rm -rf '${dir}'`], { stdio: 'ignore', detached: true })
  watchdog.unref()

  const admins: Admin[] = []
  const stop = async (): Promise<void> => {
    await Promise.all(admins.map(async (a) => { await a.close() }))
    process.removeListener('exit', killBroker)
    killBroker()
    await exited(broker)
    watchdog.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  }

  try {
    await waitUntilReady(bootstrap, broker, logTail)
  } catch (err) {
    await stop()
    throw err
  }
  return {
    bootstrap,
    admin: () => {
      const admin = new Admin({ clientId: 'kafka-peer-test', bootstrapBrokers: [bootstrap], retries: 0 })
      admins.push(admin)
      return admin
    },
    pause: () => { freeze(broker) },
    resume: () => { broker.kill('SIGCONT') },
    stop
  }
}

/**
 * Ready means the broker lists itself in metadata and a group coordinator answers: the first
 * FindCoordinator creates __consumer_offsets, which would otherwise make a test's first group
 * call answer COORDINATOR_NOT_AVAILABLE.
 */
async function waitUntilReady (bootstrap: string, broker: ChildProcess, logTail: () => string): Promise<void> {
  const deadline = Date.now() + READY_WITHIN_MS
  let lastError = 'no answer yet'
  while (Date.now() < deadline) {
    if (broker.exitCode !== null || broker.signalCode !== null) {
      throw new Error(`the Kafka broker exited with ${broker.exitCode ?? broker.signalCode} before it was ready:\n${logTail()}`)
    }
    const probe = new Admin({ clientId: 'kafka-peer-probe', bootstrapBrokers: [bootstrap], retries: 0, connectTimeout: 2000, requestTimeout: 5000 })
    try {
      const metadata = await probe.metadata({ topics: [] })
      if (metadata.brokers.size > 0) {
        await probe.findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: ['kafka-peer-probe'] })
        return
      }
      lastError = 'the metadata lists no broker yet'
    } catch (err) {
      lastError = (err as Error).message
    } finally {
      await probe.close()
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`the Kafka broker at ${bootstrap} was not ready within ${READY_WITHIN_MS} ms (last: ${lastError}):\n${logTail()}`)
}

/** A KRaft cluster id: 16 random bytes in URL-safe base64, never starting with '-' (Kafka's own rule). */
function clusterId (): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}
