// The docs page in a real browser, as a new user meets it: Debian's Chromium (driven by
// playwright-core) loads /docs from Vigil listening on a LAN address of this machine (not
// loopback: plain HTTP there is an untrustworthy origin, where policy mistakes show), logs in
// through the Authorize dialog (the OAuth2 password flow; a wrong password first), and runs the
// documented examples of the main routes with Try it out / Execute: the alert list, event
// creation, and every documented content type of the bulk, Splunk HEC and Elasticsearch routes.
// It checks the status the page shows, what the page sent, and what the database holds, and fails
// on any console error, page error, failed request or policy violation.
//
// PostgreSQL only (.ci/run leaves it out of the PGlite pass): the page does not depend on the
// database. Without Chromium it fails, saying how to install it (.ci/run does).
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { networkInterfaces } from 'node:os'
import { eq, inArray } from 'drizzle-orm'
import { chromium, type Locator } from 'playwright-core'
import t, { type Test } from 'tap'
import { alerts, events } from '../src/db/schema.js'
import { LOGIN_FAILED } from '../src/services/login.js'
import { build, inject, makeUser } from './helper.js'

const CHROMIUM = '/usr/bin/chromium'

/** An IPv4 address of this machine other than loopback (eth0's, typically). */
function lanAddress(): string | undefined {
  for (const addresses of Object.values(networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return undefined
}

t.test('the docs page works in a browser: login, and the documented examples run as shown', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: install Debian's Chromium (apt-get install -y chromium), as .ci/run does`)
    return
  }
  const host = lanAddress()
  if (!host) {
    t.fail('this machine has no non-loopback IPv4 address to serve the docs page on')
    return
  }

  const app = await build(t)
  const admin = await makeUser(app, 'admin')
  await app.listen({ host, port: 0 })
  const base = `http://${host}:${(app.server.address() as AddressInfo).port}`
  const doc = (await inject(app, { method: 'GET', url: '/docs/json' })).body

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  const page = await browser.newPage()
  // Every wait is for something the page shows within a second or two; a broken step fails soon.
  page.setDefaultTimeout(10_000)

  // Everything that goes wrong on the page, as it happens. A refusal the test provokes on purpose
  // (a wrong password) makes Chromium log "Failed to load resource" for it: that one is expected.
  const problems: string[] = []
  const expectedFailures: { url: string; status: number }[] = []
  await page.exposeFunction('vigilPolicyViolation', (report: string) => void problems.push(`policy violation: ${report}`))
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      const report = `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`
      void (window as unknown as { vigilPolicyViolation(r: string): Promise<void> }).vigilPolicyViolation(report)
    })
  })
  page.on('console', (message) => {
    if (message.type() !== 'error') return
    const status = /Failed to load resource: the server responded with a status of (\d+)/.exec(message.text())?.[1]
    const url = message.location().url
    const expected = expectedFailures.findIndex((f) => status && Number(status) === f.status && url.startsWith(f.url))
    if (expected >= 0) expectedFailures.splice(expected, 1)
    else problems.push(`console error: ${message.text()} (${url})`)
  })
  page.on('pageerror', (err) => void problems.push(`page error: ${err.message}`))
  page.on('requestfailed', (request) => void problems.push(`request failed: ${request.url()} ${request.failure()?.errorText}`))
  const noProblems = (step: string) => t.same(problems.splice(0), [], `${step}: no console error, page error, failed request or policy violation`)

  await t.test('the page loads, titled as Vigil', async (t) => {
    await page.goto(`${base}/docs`)
    await page.locator('.information-container .title', { hasText: 'Vigil API' }).waitFor()
    t.equal(await page.title(), 'Vigil API docs', 'the tab says Vigil')
    await page.locator('.opblock').first().waitFor()
    t.ok((await page.locator('.opblock').count()) >= 30, 'every operation is listed')
    noProblems('loading')
  })

  await t.test('logging in through the Authorize dialog (OAuth2 password flow)', async (t) => {
    await page.locator('.auth-wrapper').getByRole('button', { name: 'Authorize' }).click()
    const oauth2 = page.locator('.modal-ux .auth-container').filter({ hasText: 'oauth2 (OAuth2, password)' })
    await oauth2.locator('#oauth_username').fill(admin.user.username)
    await oauth2.locator('#oauth_password').fill('not-the-password-1')
    expectedFailures.push({ url: `${base}/api/auth/token`, status: 401 })
    await oauth2.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
    await t.resolves(oauth2.locator('.errors', { hasText: LOGIN_FAILED }).waitFor(), 'a wrong password: the dialog says why')
    t.same(expectedFailures, [], 'the refused login was the only failure')

    await oauth2.locator('#oauth_password').fill(admin.password)
    await oauth2.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click()
    await t.resolves(oauth2.getByRole('button', { name: 'Remove authorization' }).waitFor(), 'the right one: logged in')
    await page.locator('.modal-ux .close-modal').click()
    for (const id of ['operations-alerts-get_api_alerts', 'operations-ingest-post_api_events_bulk', 'operations-compat-post__bulk']) {
      await t.resolves(
        page.locator(`#${id} .authorization__btn[aria-label="authorization button locked"]`).waitFor(),
        `${id}: the lock is closed, the login counts there`
      )
    }
    noProblems('logging in')
  })

  /** Opens an operation with Try it out, and returns it. */
  async function tryOut(id: string): Promise<Locator> {
    const op = page.locator(`#${id}`)
    await op.locator('.opblock-summary').first().click()
    await op.locator('.try-out__btn').click()
    return op
  }

  /** Executes the operation as the page has it; returns what the page sent and the status it shows. */
  async function execute(op: Locator, path: string) {
    const clear = op.locator('.btn-clear')
    if (await clear.isVisible()) await clear.click()
    await op.locator('.live-responses-table').waitFor({ state: 'detached' })
    const [request] = await Promise.all([
      page.waitForRequest((r) => new URL(r.url()).pathname === path && r.method() !== 'OPTIONS'),
      op.locator('.execute').click()
    ])
    const status = op.locator('.live-responses-table tr.response .response-col_status')
    await status.waitFor()
    const shown = await op.locator('.live-responses-table tr.response .response-col_description pre').first().textContent()
    return { request, status: Number((await status.textContent())?.trim()), body: JSON.parse(shown ?? 'null') }
  }

  const mediaOf = (path: string, method = 'post') => doc.paths[path][method].requestBody.content as Record<string, { example: unknown }>

  /** Runs an ingestion route's example in each content type it documents, the default first. */
  async function eachContentType(t: Test, id: string, path: string, check: (body: any, type: string) => void) {
    const media = mediaOf(path)
    const types = Object.keys(media)
    const op = await tryOut(id)
    const select = op.locator('.body-param-content-type select')
    t.same(await select.locator('option').allTextContents(), types, 'the content types, in the documented order')
    t.equal(await select.inputValue(), types[0], `${types[0]} is the default`)
    for (const type of types) {
      await select.selectOption(type)
      const example = media[type].example
      const editor = op.locator('textarea.body-param__text')
      if (typeof example === 'string') {
        const shown = page.waitForFunction(({ el, text }) => (el as HTMLTextAreaElement).value === text, { el: await editor.elementHandle(), text: example })
        await t.resolves(shown, `${type}: the example is shown as the body's text`)
      }
      const { request, status, body } = await execute(op, path)
      t.equal(request.headers()['content-type'], type, `${type}: sent with its content type`)
      if (typeof example === 'string') t.equal(request.postData(), example, `${type}: the page sent the example as shown`)
      else t.same(JSON.parse(request.postData() ?? ''), example, `${type}: the page sent the example's JSON`)
      t.equal(status, 200, `${type}: the page shows 200`)
      check(body, type)
    }
  }

  await t.test('Try it out: the login form starts empty, and logs in', async (t) => {
    const op = await tryOut('operations-auth-post_api_auth_token')
    const field = (name: string) => op.locator(`tr[data-property-name="${name}"] input:not([type=checkbox])`)
    for (const name of ['username', 'password', 'client_id']) t.equal(await field(name).inputValue(), '', `${name}: empty, not "string"`)
    await field('username').fill(admin.user.username)
    await field('password').fill(admin.password)
    const { request, status, body } = await execute(op, '/api/auth/token')
    t.equal(request.headers()['content-type'], 'application/x-www-form-urlencoded', 'sent as a form')
    t.equal(status, 200)
    t.equal(body.token_type, 'bearer')
    noProblems('the login form')
  })

  await t.test('Try it out: the alert list', async (t) => {
    const op = await tryOut('operations-alerts-get_api_alerts')
    await t.resolves(op.locator('.responses-wrapper', { hasText: 'A page of alerts' }).waitFor(), 'its 200 is described')
    const { request, status, body } = await execute(op, '/api/alerts')
    t.match(request.headers().authorization, /^Bearer ey/, "sent with the login's token")
    t.equal(status, 200)
    t.same(body.results, [], 'no alert yet')
    noProblems('the alert list')
  })

  await t.test('Try it out: creating an event (its example)', async (t) => {
    const op = await tryOut('operations-events-post_api_events')
    const { status, body } = await execute(op, '/api/events')
    t.equal(status, 201)
    const example = mediaOf('/api/events')['application/json'].example as { description: string }
    const [stored] = await app.db.select().from(events).where(eq(events.id, body.id))
    t.equal(stored?.description, example.description, 'the event is stored')
    t.equal((await app.db.select().from(alerts).where(eq(alerts.eventId, body.id))).length, 1, 'the High event raised its alert')
    noProblems('creating an event')
  })

  await t.test('Try it out: bulk ingestion, every documented content type', async (t) => {
    await eachContentType(t, 'operations-ingest-post_api_events_bulk', '/api/events/bulk', (body, type) => {
      t.same(body, { accepted: 2, duplicates: 0, rejected: 0, errors: [] }, `${type}: both records stored`)
    })
    const stored = await app.db.select({ id: events.externalId }).from(events).where(inArray(events.externalId, ['fw-1', 'sshd-7', 'fw-2', 'sshd-8', 'fw-3', 'sshd-9']))
    t.equal(stored.length, 6, 'the database holds every record of the examples')
    noProblems('bulk ingestion')
  })

  await t.test('Try it out: Splunk HEC, every documented content type', async (t) => {
    await eachContentType(t, 'operations-compat-post_services_collector', '/services/collector', (body, type) => {
      t.same(body, { text: 'Success', code: 0 }, `${type}: Splunk's success`)
    })
    noProblems('Splunk HEC')
  })

  await t.test('Try it out: Elasticsearch _bulk, every documented content type', async (t) => {
    await eachContentType(t, 'operations-compat-post__bulk', '/_bulk', (body, type) => {
      t.equal(body.errors, false, `${type}: no item refused`)
      t.same(body.items.map((item: any) => item.create.status), [201], `${type}: the document is created`)
    })
    const stored = await app.db.select({ id: events.externalId }).from(events).where(inArray(events.externalId, ['OK-1', 'OK-2', 'HEC-1', 'HEC-2']))
    t.equal(stored.length, 4, 'the database holds the HEC and Elasticsearch examples')
    noProblems('Elasticsearch _bulk')
  })

  noProblems('the whole visit')
})
