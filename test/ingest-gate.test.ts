// The ingestion gate on its own (no HTTP, no database): a slot goes back exactly once, whatever
// order its request's end, its work's end and its client's departure come in.
import t from 'tap'
import { ClientGone, IngestGate, type Slot } from '../src/ingest/gate.js'

t.test('slots up to the limit, then a queue in arrival order', async (t) => {
  const gate = new IngestGate(2, 60_000)
  const a = (await gate.acquire())!
  const b = (await gate.acquire())!
  t.equal(gate.inFlight, 2)
  const order: string[] = []
  const c = gate.acquire().then((s) => (order.push('c'), s))
  const d = gate.acquire().then((s) => (order.push('d'), s))
  t.equal(gate.waiting, 2)
  a.close()
  const sc = (await c)!
  t.same([gate.inFlight, gate.waiting], [2, 1], 'the slot passed to the first waiter')
  b.close()
  const sd = (await d)!
  t.same(order, ['c', 'd'])
  sc.close()
  sd.close()
  t.same([gate.inFlight, gate.waiting], [0, 0])
})

t.test('a slot goes back once, however often its request is closed', async (t) => {
  const gate = new IngestGate(1, 0)
  const slot = (await gate.acquire())!
  slot.close()
  slot.close()
  t.equal(gate.inFlight, 0, 'never below zero')
  const next = (await gate.acquire())!
  slot.close()
  t.equal(gate.inFlight, 1, "a stale close does not give back another request's slot")
  t.equal(await gate.acquire(), null, 'and the gate is still full')
  next.close()
})

t.test('work keeps the slot after the client leaves; the slot goes back when the work ends', async (t) => {
  const gate = new IngestGate(1, 0)
  const slot = (await gate.acquire())!
  let finish!: () => void
  const running = slot.run(() => new Promise<string>((resolve) => (finish = () => resolve('done'))))
  t.equal(gate.working, 1)
  slot.close()
  t.same([gate.inFlight, gate.abandoned], [1, 1], 'the client left; the insert goes on holding the slot')
  finish()
  t.equal(await running, 'done')
  t.same([gate.inFlight, gate.working, gate.abandoned], [0, 0, 0])
})

t.test('work that fails gives the slot back too', async (t) => {
  const gate = new IngestGate(1, 0)
  const slot = (await gate.acquire())!
  await t.rejects(slot.run(async () => Promise.reject(new Error('database down'))), /database down/)
  t.equal(gate.inFlight, 1, 'the request is still to be answered')
  slot.close()
  t.equal(gate.inFlight, 0)
  const gone = (await gate.acquire())!
  t.ok((await slot.run(async () => 'x').catch((e) => e)) instanceof ClientGone, 'a closed slot runs nothing')
  gone.close()
})

t.test('a client gone before its work begins gets nothing done', async (t) => {
  const gate = new IngestGate(1, 0)
  const slot = (await gate.acquire())!
  slot.close()
  let ran = false
  const err = await slot
    .run(async () => {
      ran = true
    })
    .catch((e) => e)
  t.ok(err instanceof ClientGone)
  t.equal(ran, false)
  t.equal(gate.inFlight, 0)
})

t.test('a waiter whose client leaves is out of the queue at once', async (t) => {
  const gate = new IngestGate(1, 60_000)
  const holder = (await gate.acquire())!
  const left = new AbortController()
  const waiting = gate.acquire(left.signal)
  t.equal(gate.waiting, 1)
  left.abort()
  t.equal(gate.waiting, 0, 'gone before its 60 s wait ended')
  t.equal(await waiting, null)
  t.equal(await gate.acquire(AbortSignal.abort()), null, 'a client already gone does not queue')
  holder.close()
  t.same([gate.inFlight, gate.waiting], [0, 0], 'nothing was handed to the departed waiter')
})

t.test('no queue room or no wait: refused at once', async (t) => {
  const gate = new IngestGate(1, 60_000, 1)
  const holder = (await gate.acquire())!
  const waiter = gate.acquire()
  t.equal(await gate.acquire(), null, 'the queue is full')
  t.equal(gate.full, true)
  holder.close()
  ;(await waiter)!.close()
  t.same([gate.inFlight, gate.waiting], [0, 0])
})

t.test('any interleaving of grants, departures, work and answers keeps the count within 0..max and ends at 0', async (t) => {
  const max = 3
  const gate = new IngestGate(max, 60_000, 100)
  // A fixed pseudo-random sequence, so a failure can be replayed.
  let seed = 42
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const held: Slot[] = []
  const pending: { left: AbortController; slot: Promise<Slot | null> }[] = []
  const works: Promise<unknown>[] = []
  let violations = 0
  const check = () => {
    if (gate.inFlight < 0 || gate.inFlight > max || gate.waiting < 0) violations++
  }
  for (let step = 0; step < 2000; step++) {
    const r = random()
    if (r < 0.3) {
      const left = new AbortController()
      const slot = gate.acquire(left.signal)
      pending.push({ left, slot })
      void slot.then((s) => s && held.push(s))
    } else if (r < 0.4 && pending.length > 0) {
      pending.splice(Math.floor(random() * pending.length), 1)[0].left.abort()
    } else if (r < 0.6 && held.length > 0) {
      const slot = held[Math.floor(random() * held.length)]
      works.push(slot.run(() => new Promise((resolve) => setImmediate(resolve))).catch(() => {}))
    } else if (held.length > 0) {
      const [slot] = held.splice(Math.floor(random() * held.length), 1)
      slot.close()
      if (random() < 0.2) slot.close()
    }
    check()
    await Promise.resolve()
    check()
  }
  for (const p of pending) p.left.abort()
  await Promise.all(works)
  await new Promise((resolve) => setImmediate(resolve))
  for (const slot of held.splice(0)) slot.close()
  t.equal(violations, 0, 'never below zero or above the limit')
  t.same([gate.inFlight, gate.waiting, gate.working, gate.abandoned], [0, 0, 0, 0], 'everything went back')
})
