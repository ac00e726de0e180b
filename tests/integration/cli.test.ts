import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { createTestClient, http, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CLAIM_WINDOW_SECONDS,
  createJob,
  DEV_PRIVATE_KEYS,
  payoutOf,
  publicClientFor,
} from '../../lib/chain'
import { parsePolicy } from '../../lib/proofs'
import { type NodeVolunteer, startNodeVolunteer, walletFor } from '../../lib/sdk/node'
import { freePort, startService } from '../../scripts/lib/procs'
import { cliNetworkFlags } from '../../scripts/lib/stack'
import { startTestStack, type TestStack } from '../helpers/stack'

const exec = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')
const meshwork = (args: string[], cwd = ROOT) =>
  exec(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'cli/meshwork.ts'), ...args], {
    cwd,
    timeout: 120_000,
  }).then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({
      code: e.code,
      stdout: e.stdout,
      stderr: e.stderr,
    }),
  )

/** A fresh address: where the second volunteer's pay goes. */
const PAYOUT = privateKeyToAccount(generatePrivateKey()).address

let stack: TestStack
const volunteers: NodeVolunteer[] = []
let net: string[]
/** The job the submit test paid for (status and results look at it). */
let submitted: { jobId: string; stdout: string } | undefined

beforeAll(async () => {
  stack = await startTestStack()
  const cfg = { ...stack.chain, relays: [stack.relay.multiaddr] }
  // The second volunteer sends its pay elsewhere (`meshwork volunteer --payout`).
  volunteers.push(await startNodeVolunteer(cfg))
  volunteers.push(await startNodeVolunteer({ ...cfg, payout: PAYOUT }))
  net = cliNetworkFlags(stack)
})

afterAll(async () => {
  await Promise.all(volunteers.map((v) => v.stop()))
  await stack?.stop()
})

describe('meshwork CLI', () => {
  it('submit: pays, waits for settlement and prints the results JSON', async () => {
    const r = await meshwork([
      'submit',
      '--model',
      'mlp-16x4',
      '--tasks',
      '3',
      '--replicas',
      '2',
      '--quorum',
      '2',
      ...net,
    ])
    expect(r.code).toBe(0)
    const out = JSON.parse(r.stdout)
    submitted = { jobId: out.jobId, stdout: r.stdout }
    expect(out.tasks).toHaveLength(3)
    // By default the CLI computes 2 % of the tasks itself (at least 2) as known answers: one
    // matching result settles those; the rest need the quorum of 2.
    const by = out.tasks.map((t: { verifiedBy: string }) => t.verifiedBy).sort()
    expect(by).toEqual(['known-answer', 'known-answer', 'quorum'])
    for (const t of out.tasks) {
      expect(t.status).toBe('settled')
      // A known answer settles on the first match; the second replica may arrive before that.
      if (t.verifiedBy === 'quorum') expect(t.agreeing).toHaveLength(2)
      else expect(t.agreeing.length).toBeGreaterThanOrEqual(1)
      expect(t.outputs.y.dims).toEqual([1, 4])
    }
    expect(r.stderr).toMatch(/anvil dev account 1/)

    // The requester recorded the paid volunteer's payout address before it exited.
    const client = publicClientFor(stack.chain)
    const second = volunteers[1]!.identity.address
    expect(await payoutOf(client, stack.chain.contract, second)).toMatchObject({ payout: PAYOUT })
    expect(
      (await payoutOf(client, stack.chain.contract, volunteers[0]!.identity.address)).payout,
    ).toBeUndefined()
  })

  it('volunteer: refuses a payout that is not an address', async () => {
    const r = await meshwork(['volunteer', '--payout', '0x1234', ...net])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/--payout must be an address/)
  })

  it('submit: refuses an inputs file that does not fit the model before paying', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    const file = join(dir, 'inputs.json')
    writeFileSync(file, JSON.stringify([{ x: { type: 'float32', dims: [1, 3], data: [1, 2, 3] } }]))
    const r = await meshwork(['submit', '--model', 'mlp-16x4', '--inputs', file, ...net])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/Task 0: Input "x" dimension 1 must be 16, got 3/)
  })

  it('submit: names the problem with a missing model file or a malformed inputs file', async () => {
    expect((await meshwork(['submit', '--model', '/nope.onnx', ...net])).stderr).toMatch(
      /Model file \/nope.onnx does not exist/,
    )
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    writeFileSync(join(dir, 'bad.json'), '{not json')
    const r = await meshwork([
      'submit',
      '--model',
      'mlp-16x4',
      '--inputs',
      join(dir, 'bad.json'),
      ...net,
    ])
    expect(r.stderr).toMatch(/Cannot read the inputs file/)
    const per = await meshwork(['submit', '--model', 'mlp-16x4', '--inputs-per-task', '0', ...net])
    expect(per.code).toBe(1)
    expect(per.stderr).toMatch(/--inputs-per-task must be a whole number ≥ 1, not "0"/)
  })

  it('stake: a backer adds stake, the volunteer unstakes, and after the delay it is paid back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    const keyFile = join(dir, 'volunteer.key')
    const chainNet = net.slice(2) // no --relay: stake only talks to the chain
    const stake = async (args: string[]) => {
      const r = await meshwork(['stake', '--key-file', keyFile, ...args, ...chainNet])
      return { ...r, json: r.code === 0 ? JSON.parse(r.stdout) : undefined }
    }
    expect((await stake([])).stderr).toMatch(/No volunteer key at .*volunteer.key/)
    const key = generatePrivateKey()
    writeFileSync(keyFile, `${key}\n`)
    const worker = privateKeyToAccount(key).address

    const before = await stake([])
    expect(before.json).toMatchObject({ worker, active: '0', unstaking: '0' })
    // Backed by anvil dev account 1: the volunteer's own address holds no ether.
    const added = await stake(['--add', '0.5'])
    expect(added.stderr).toMatch(/anvil dev account 1/)
    expect(added.json.active).toBe(parseEther('0.5').toString())
    expect((await stake(['--add', 'lots'])).stderr).toMatch(/--add must be an amount of ether/)

    // Unstaking is signed by the volunteer's key, which needs gas.
    const client = publicClientFor(stack.chain)
    const backer = walletFor(DEV_PRIVATE_KEYS[2]!, stack.chain)
    await client.waitForTransactionReceipt({
      hash: await backer.sendTransaction({ to: worker, value: parseEther('0.01') }),
    })
    const unstaked = await stake(['--unstake', '0.2'])
    expect(unstaked.code).toBe(0)
    expect(unstaked.json).toMatchObject({
      active: parseEther('0.3').toString(),
      unstaking: parseEther('0.2').toString(),
    })
    expect((await stake(['--unstake', '1'])).stderr).toMatch(/InsufficientStake/)
    const early = await stake(['--withdraw'])
    expect(early.code).toBe(1)
    expect(early.stderr).toMatch(/StakeLocked/)

    const test = createTestClient({ mode: 'anvil', transport: http(stack.chain.rpcUrl) })
    await test.increaseTime({ seconds: 3 * 24 * 3600 })
    await test.mine({ blocks: 1 })
    const balance = await client.getBalance({ address: worker })
    const paid = await stake(['--withdraw'])
    expect(paid.json).toMatchObject({ unstaking: '0', active: parseEther('0.3').toString() })
    // Paid by the backer's key: the volunteer receives exactly the unstaked 0.2 ETH.
    expect(await client.getBalance({ address: worker })).toBe(balance + parseEther('0.2'))
  })

  it('status and results: the job submit paid for, from the chain and from the file submit kept', async () => {
    const chainNet = net.slice(2)
    const { jobId } = submitted!
    const status = await meshwork(['status', jobId, '--json', ...chainNet])
    expect(status.code).toBe(0)
    const s = JSON.parse(status.stdout)
    expect(s).toMatchObject({
      jobId,
      phase: 'complete',
      taskCount: 3,
      recordedCount: 3,
      refunded: false,
    })
    expect(s.settled).toHaveLength(3)
    // Paid by claims the coordinator signed (submit redeemed them for its workers at the end).
    const paid = s.workers.reduce((n: number, w: { results: number }) => n + w.results, 0)
    const agreeing = JSON.parse(submitted!.stdout).tasks.reduce(
      (n: number, t: { agreeing: string[] }) => n + t.agreeing.length,
      0,
    )
    expect(paid).toBe(agreeing)
    const human = await meshwork(['status', jobId, ...chainNet])
    expect(human.stdout).toMatch(/recorded {3}3 of 3 tasks/)

    // Kept by submit in .meshwork/jobs/: the same file it printed, outputs included.
    const kept = await meshwork(['results', jobId, ...chainNet])
    expect(JSON.parse(kept.stdout)).toEqual(JSON.parse(submitted!.stdout))
    // Elsewhere (no kept file): from the chain, each task's recorded hash, the same hashes.
    const elsewhere = await meshwork(
      ['results', jobId, ...chainNet],
      mkdtempSync(join(tmpdir(), 'mw-')),
    )
    expect(elsewhere.stderr).toMatch(/results from the chain/)
    const fromChain = JSON.parse(elsewhere.stdout)
    for (const [i, t] of fromChain.tasks.entries()) {
      const original = JSON.parse(submitted!.stdout).tasks[i]
      expect(t.resultHash).toBe(original.resultHash)
      expect(t.status).toBe('settled')
      expect(t.outputs).toBeUndefined()
    }
    expect((await meshwork(['status', '0x1234', ...chainNet])).stderr).toMatch(/is not a job id/)
    expect((await meshwork(['status', `0x${'ab'.repeat(32)}`, ...chainNet])).stderr).toMatch(
      /No job 0xabab/,
    )
  })

  it('the SDK example (examples/sdk-node.ts) runs against a network given by variables', async () => {
    const r = await exec(
      join(ROOT, 'node_modules/.bin/tsx'),
      [join(ROOT, 'examples/sdk-node.ts')],
      {
        cwd: mkdtempSync(join(tmpdir(), 'mw-example-')),
        timeout: 120_000,
        env: {
          ...process.env,
          MESHWORK_RELAYS: stack.relay.multiaddr,
          MESHWORK_RPC_URL: stack.chain.rpcUrl,
          MESHWORK_CHAIN_ID: String(stack.chain.chainId),
          MESHWORK_CONTRACT: stack.chain.contract,
        },
      },
    )
    expect(r.stdout).toMatch(/^5\/5 settled/m)
    expect(r.stdout.match(/^task \d: settled by (quorum|known-answer), y = /gm)).toHaveLength(5)
    expect(r.stdout).toMatch(/: complete\n/)
  })

  it('relay: serves /health and /metrics, and keeps its identity across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-relay-'))
    const start = async () => {
      const port = await freePort()
      const health = await freePort()
      const relay = await startService({
        name: 'meshwork-relay',
        command: join(ROOT, 'node_modules/.bin/tsx'),
        args: [
          join(ROOT, 'cli/meshwork.ts'),
          'relay',
          '--port',
          String(port),
          '--health-port',
          String(health),
          '--key-file',
          join(dir, 'relay.key'),
        ],
        cwd: ROOT,
        ready: (line) => line.startsWith('relay metrics:'),
      })
      const ma = /relay multiaddr: (\S+)/.exec(relay.output())![1]!
      return { relay, ma, health: `http://127.0.0.1:${health}` }
    }
    const first = await start()
    try {
      const h = await (await fetch(`${first.health}/health`)).json()
      expect(h.status).toBe('ok')
      expect(first.ma).toContain(h.peerId)
      expect(await (await fetch(`${first.health}/metrics`)).text()).toMatch(
        /^meshwork_relay_reservations 0$/m,
      )
    } finally {
      await first.relay.stop()
    }
    const second = await start()
    await second.relay.stop()
    expect(second.ma.split('/p2p/')[1]).toBe(first.ma.split('/p2p/')[1])
  })

  it('deploy: puts a JobEscrow on the chain and writes the network file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-cli-'))
    const file = join(dir, 'network.json')
    const r = await meshwork([
      'deploy',
      '--rpc',
      stack.chain.rpcUrl,
      '--relay',
      stack.relay.multiaddr,
      '--write',
      file,
      '--json',
    ])
    expect(r.code).toBe(0)
    const written = JSON.parse(readFileSync(file, 'utf8'))
    expect(written).toEqual(JSON.parse(r.stdout))
    expect(written).toMatchObject({ chainId: stack.chain.chainId, relays: [stack.relay.multiaddr] })
    expect(written.contract).not.toBe(stack.chain.contract)
    const code = await publicClientFor(stack.chain).getCode({ address: written.contract })
    expect(code?.length).toBeGreaterThan(1000)
    const wrong = await meshwork(['deploy', '--rpc', stack.chain.rpcUrl, '--chain-id', '1'])
    expect(wrong.stderr).toMatch(/serves chain 31337, not 1/)
    const down = await meshwork(['deploy', '--rpc', 'http://127.0.0.1:9'])
    expect(down.stderr).toMatch(/Cannot reach the chain/)
  })

  it.each([
    ['submit'],
    ['resume'],
    ['volunteer'],
    ['claims'],
    ['redeem'],
    ['stake'],
    ['status'],
    ['results'],
    ['refund'],
    ['deploy'],
    ['bridge'],
  ])('%s --help prints its options', async (cmd) => {
    const r = await meshwork([cmd, '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`Usage: meshwork ${cmd}`))
  })

  it('refund: refused before the deadline and during the claim window, then returns the whole unspent escrow', async () => {
    const chainNet = net.slice(2)
    const client = publicClientFor(stack.chain)
    const wallet = walletFor(DEV_PRIVATE_KEYS[3]!, stack.chain)
    const block = await client.getBlock()
    // Paid on chain with no coordinator: nobody computes it.
    const { jobId, escrow } = await createJob(wallet, client, stack.chain.contract, {
      modelHash: `0x${'11'.repeat(32)}`,
      inputsRoot: `0x${'22'.repeat(32)}`,
      taskCount: 4,
      replicas: 2,
      quorum: 2,
      policy: parsePolicy('exact'),
      rewardPerResult: parseEther('0.01'),
      deadline: Number(block.timestamp) + 600,
      coordinator: privateKeyToAccount(generatePrivateKey()).address,
    })
    const early = await meshwork(['refund', jobId, ...chainNet])
    expect(early.code).toBe(1)
    expect(early.stderr).toMatch(/ClaimWindowOpen/)
    const test = createTestClient({ mode: 'anvil', transport: http(stack.chain.rpcUrl) })
    await test.increaseTime({ seconds: 601 })
    await test.mine({ blocks: 1 })
    // Past the deadline, workers may still redeem the coordinator's claims: no refund yet.
    expect(
      JSON.parse((await meshwork(['status', jobId, '--json', ...chainNet])).stdout).phase,
    ).toBe('claiming')
    expect((await meshwork(['refund', jobId, ...chainNet])).stderr).toMatch(/ClaimWindowOpen/)
    await test.increaseTime({ seconds: Number(CLAIM_WINDOW_SECONDS) })
    await test.mine({ blocks: 1 })
    expect(
      JSON.parse((await meshwork(['status', jobId, '--json', ...chainNet])).stdout).phase,
    ).toBe('refundable')
    const requester = wallet.account.address
    const before = await client.getBalance({ address: requester })
    // Sent by dev account 1 (the default key here); the ether goes to the requester.
    const r = await meshwork(['refund', jobId, ...chainNet])
    expect(r.code).toBe(0)
    expect(JSON.parse(r.stdout).amount).toBe(escrow.toString())
    expect(await client.getBalance({ address: requester })).toBe(before + escrow)
    expect(
      JSON.parse((await meshwork(['status', jobId, '--json', ...chainNet])).stdout).phase,
    ).toBe('refunded')
    expect((await meshwork(['refund', jobId, ...chainNet])).stderr).toMatch(/AlreadyRefunded/)
  })

  it('rejects an unknown command with the usage', async () => {
    const r = await meshwork(['frobnicate'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/Unknown command "frobnicate"/)
  })
})
