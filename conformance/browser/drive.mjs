// Opens a page in headless Chromium and prints, as one JSON line on stdout, what the page
// shows once it marks itself done: {result, error, console}.
//
// Usage: node drive.mjs <page URL> <chromium executable>
//
// Chromium is Debian's (scripts/browser-env installs it); playwright-core only drives it
// and never downloads a browser. The flags keep it off every network but loopback.
import { chromium } from "playwright-core";

const [pageUrl, executablePath] = process.argv.slice(2);
if (!pageUrl || !executablePath) {
  console.error("usage: node drive.mjs <page URL> <chromium executable>");
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
  ],
});
try {
  const page = await browser.newPage();
  const console_ = [];
  page.on("console", (message) => console_.push(`${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => console_.push(`pageerror: ${error.message}`));
  await page.goto(pageUrl);
  await page.waitForSelector("body[data-done]", { timeout: 30_000 });
  const result = await page.textContent("#result");
  const error = await page.textContent("#error");
  process.stdout.write(`${JSON.stringify({ result, error, console: console_ })}\n`);
} finally {
  await browser.close();
}
