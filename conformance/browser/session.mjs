// A headless Chromium a test drives line by line: one JSON command per line on stdin, one
// JSON answer per line on stdout ({ok: true, ...} or {ok: false, error}). The room page's
// test (crates/gambi-e2e/tests/room_page.rs) uses it to open the page, act between steps
// (join a participant, send a request) and read what the page shows.
//
// Usage: node session.mjs <chromium executable>
//
// Commands ({op, ...}):
//   open {url, width?, height?}   a new page of that viewport size at url
//   wait {selector, state?, timeout?}   until the selector matches (visible by default)
//   gone {selector, timeout?}     until nothing visible matches it
//   text {selector}               the first match's textContent
//   texts {selector}              every match's textContent
//   count {selector}              how many elements match
//   attr {selector, name}         an attribute of the first match
//   fill {selector, value}        types into an input
//   click {selector}              clicks it
//   press {selector, key}         presses a key in it
//   eval {expression}             evaluates an expression in the page (JSON result)
//   screenshot {path, fullPage?}  saves a PNG
//   url                           the page's address now
//   requests                      every request the page made: {url, method, authorization}
//   console                       console messages and page errors so far
//   close                         closes the browser and ends
//
// Chromium is Debian's (scripts/browser-env installs it); playwright-core only drives it
// and never downloads a browser. The flags keep it off every network but loopback. The
// name `gambi-hub.test` resolves to 127.0.0.1, so a test can open a hub's page at an
// address that is not a loopback name, as people on the network do.
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const [executablePath] = process.argv.slice(2);
if (!executablePath) {
  console.error("usage: node session.mjs <chromium executable>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--host-resolver-rules=MAP gambi-hub.test 127.0.0.1",
  ],
});

let page = null;
const consoleLines = [];
const requests = [];
const DEFAULT_TIMEOUT = 20_000;

function current() {
  if (!page) throw new Error("no page is open: send open first");
  return page;
}

async function run(command) {
  const timeout = command.timeout ?? DEFAULT_TIMEOUT;
  switch (command.op) {
    case "open": {
      if (page) await page.context().close();
      const context = await browser.newContext({
        viewport: { width: command.width ?? 1280, height: command.height ?? 800 },
      });
      page = await context.newPage();
      page.on("console", (message) => consoleLines.push(`${message.type()}: ${message.text()}`));
      page.on("pageerror", (error) => consoleLines.push(`pageerror: ${error.message}`));
      page.on("request", (request) =>
        requests.push({
          url: request.url(),
          method: request.method(),
          authorization: request.headers().authorization ?? null,
        }),
      );
      await page.goto(command.url);
      return {};
    }
    case "wait":
      await current().waitForSelector(command.selector, { state: command.state ?? "visible", timeout });
      return {};
    case "gone":
      await current().waitForSelector(command.selector, { state: "hidden", timeout });
      return {};
    case "text":
      return { text: await current().textContent(command.selector, { timeout }) };
    case "texts":
      return { texts: await current().locator(command.selector).allTextContents() };
    case "count":
      return { count: await current().locator(command.selector).count() };
    case "attr":
      return { value: await current().getAttribute(command.selector, command.name, { timeout }) };
    case "fill":
      await current().fill(command.selector, command.value, { timeout });
      return {};
    case "click":
      await current().click(command.selector, { timeout });
      return {};
    case "press":
      await current().press(command.selector, command.key, { timeout });
      return {};
    case "eval":
      return { value: await current().evaluate(command.expression) };
    case "screenshot":
      await current().screenshot({ path: command.path, fullPage: command.fullPage ?? false });
      return {};
    case "url":
      return { url: current().url() };
    case "requests":
      return { requests };
    case "console":
      return { console: consoleLines };
    default:
      throw new Error(`unknown op ${command.op}`);
  }
}

const lines = createInterface({ input: process.stdin });
try {
  for await (const line of lines) {
    if (!line.trim()) continue;
    let command;
    try {
      command = JSON.parse(line);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: `not JSON: ${error.message}` })}\n`);
      continue;
    }
    if (command.op === "close") break;
    try {
      const answer = await run(command);
      process.stdout.write(`${JSON.stringify({ ok: true, ...answer })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: String(error?.message ?? error) })}\n`);
    }
  }
} finally {
  await browser.close();
}
