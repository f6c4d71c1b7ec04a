// The README's browser example for the alert stream, run as written in a real browser: Debian's
// Chromium (driven by playwright-core) on a page of Vigil's own origin (the docs page, under its
// content security policy) runs `followAlerts` from the README, which asks for a ticket and opens
// an EventSource. Alerts raised through the API reach the page; when every connection drops, the
// example reconnects with a new ticket and the last id, and the change made during the gap arrives
// once, with nothing repeated.
//
// PostgreSQL only (.ci/run leaves it out of the PGlite pass, as the docs page's browser test).
import { existsSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { chromium } from 'playwright-core'
import t from 'tap'
import { build, eventually, inject, makeUser } from './helper.js'

const CHROMIUM = '/usr/bin/chromium'

/** The README's example, as it is printed there. */
function readmeExample(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const block = /```js\n(\/\/ Follows the stream[\s\S]*?async function followAlerts[\s\S]*?)```/.exec(readme)
  if (!block) throw new Error('README.md has no followAlerts example')
  return block[1]
}

t.test("the README's EventSource example follows the stream in a browser, across a drop", async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium), as .ci/run does`)
    return
  }
  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  const viewer = await makeUser(app, 'viewer')
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  page.setDefaultTimeout(20_000)
  const violations: string[] = []
  page.on('pageerror', (err) => void violations.push(`page error: ${err.message}`))
  await page.exposeFunction('vigilPolicyViolation', (report: string) => void violations.push(report))
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      void (window as unknown as { vigilPolicyViolation(r: string): Promise<void> }).vigilPolicyViolation(`${e.violatedDirective} blocked ${e.blockedURI}`)
    })
  })
  await page.goto(`${base}/docs`)

  const raise = (source: string) => inject(app, { method: 'POST', url: '/api/events/', headers: admin.auth, payload: { source, event_type: 'intrusion', severity: 'High' } })
  const received = () => page.evaluate(() => (window as unknown as { got: string[] }).got)
  const streams = () => app.alertStreams.size

  // The example as the README prints it, defined on the page as a script of its own would.
  await page.evaluate(`${readmeExample()}\nwindow.followAlerts = followAlerts`)
  await page.evaluate((token) => {
    const w = window as unknown as { got: string[]; followAlerts: (token: string, onChange: (type: string, data: any) => void) => Promise<void> }
    w.got = []
    void w.followAlerts(token, (type, data) => w.got.push(`${type}:${data.alert.source}`))
  }, viewer.token)
  t.ok(await eventually(async () => streams() === 1, 20_000), 'the example opened a stream')
  await raise('first')
  await page.waitForFunction(() => (window as unknown as { got: string[] }).got.length >= 1)
  t.same(await received(), ['raised:first'], 'an alert raised through the API reaches the page')

  // Every connection drops (a proxy restart, a network change); a change is made meanwhile.
  app.server.closeAllConnections()
  t.ok(await eventually(async () => streams() === 0, 20_000), 'every stream dropped')
  await raise('during-the-drop')
  await page.waitForFunction(() => (window as unknown as { got: string[] }).got.length >= 2)
  await raise('after')
  await page.waitForFunction(() => (window as unknown as { got: string[] }).got.length >= 3)
  t.same(await received(), ['raised:first', 'raised:during-the-drop', 'raised:after'], 'reconnected with a new ticket and the last id: nothing lost, nothing repeated')
  t.same(violations, [], 'no page error or policy violation')
})
