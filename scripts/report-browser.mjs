#!/usr/bin/env node
// Opens a mixlab report in headless Debian chromium and checks what a reader would see, over the
// DevTools protocol on a pipe (--remote-debugging-pipe: no port, no WebSocket library): every
// network request, console message, exception and CSP violation is recorded; the rendered DOM is
// inspected (sections, figures, SVG marks); a full-page screenshot is written when asked.
//   node scripts/report-browser.mjs report.html [--screenshot out.png] [--width 1280]
// Prints the findings as JSON and exits 1 when the page is not clean. Exit 3 when chromium is missing.

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The chromium binary, or null where none is installed. */
export function findChromium() {
  for (const p of [process.env.CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"]) if (p && existsSync(p)) return p;
  return null;
}

// Runs in the page: sections, figures and the data marks each figure's SVG holds.
const PROBE = `(() => {
  const figures = [...document.querySelectorAll("figure[data-plot]")].map((f) => {
    const svg = f.querySelector("svg");
    const marks = svg ? [...svg.querySelectorAll("g[class*='role-mark']")].reduce((a, g) => a + [...g.children].filter((c) => c.tagName.toLowerCase() !== "g").length, 0) : 0;
    const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
    return { id: f.dataset.plot, marks, width: Math.round(box.width), height: Math.round(box.height) };
  });
  return JSON.stringify({
    title: document.title,
    sections: [...document.querySelectorAll("section[data-section]")].map((s) => s.dataset.section),
    figures,
    scripts: document.scripts.length,
    height: Math.ceil(document.documentElement.scrollHeight),
  });
})()`;

/**
 * Opens `htmlPath` in headless chromium and reports what happened.
 * @param {string} htmlPath
 * @param {{ screenshot?: string, width?: number, timeoutMs?: number }} [options]
 */
export async function checkReport(htmlPath, options = {}) {
  const chromium = findChromium();
  if (!chromium) throw new Error("chromium not found (install Debian's chromium or set CHROMIUM)");
  const width = options.width ?? 1280;
  const profile = mkdtempSync(join(tmpdir(), "mixlab-chromium-"));
  const args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps", "--disable-extensions", "--mute-audio",
    `--user-data-dir=${profile}`, "--remote-debugging-pipe", `--window-size=${width},900`, "about:blank"];
  // Its own process group, so the helpers chromium starts (renderer, zygote, crashpad) go with it.
  // Chromium also writes org.chromium.Chromium.* entries into TMPDIR: keep them inside the profile.
  const scratch = join(profile, "tmp");
  mkdirSync(scratch);
  const env = { ...process.env, TMPDIR: scratch };
  const child = spawn(chromium, args, { stdio: ["ignore", "ignore", "pipe", "pipe", "pipe"], detached: true, env });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr += d));
  const toBrowser = child.stdio[3];
  const fromBrowser = child.stdio[4];
  let nextId = 1;
  const pending = new Map();
  const listeners = [];
  let buffer = "";
  fromBrowser.on("data", (chunk) => {
    buffer += chunk.toString("utf8");
    let end;
    while ((end = buffer.indexOf("\0")) >= 0) {
      const msg = JSON.parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 1);
      if (msg.id !== undefined && pending.has(msg.id)) {
        const { resolve: ok, reject } = pending.get(msg.id);
        pending.delete(msg.id);
        if (msg.error) reject(new Error(`${msg.error.message} (${JSON.stringify(msg.error)})`));
        else ok(msg.result);
      } else for (const l of listeners) l(msg);
    }
  });
  const exited = new Promise((r) => child.on("exit", r));
  const send = (method, params = {}, sessionId) =>
    new Promise((ok, reject) => {
      const id = nextId++;
      pending.set(id, { resolve: ok, reject });
      toBrowser.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });
  const timeout = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 60_000);
  const url = pathToFileURL(resolve(htmlPath)).href;
  const findings = { url, requests: [], console: [], exceptions: [], violations: [], page: null, screenshot: null };
  try {
    const { targetInfos } = await send("Target.getTargets");
    const page = targetInfos.find((t) => t.type === "page");
    const { sessionId } = await send("Target.attachToTarget", { targetId: page.targetId, flatten: true });
    let loaded;
    const load = new Promise((r) => (loaded = r));
    listeners.push((m) => {
      if (m.sessionId !== sessionId) return;
      if (m.method === "Network.requestWillBeSent") findings.requests.push(m.params.request.url);
      else if (m.method === "Runtime.consoleAPICalled") findings.console.push(`${m.params.type}: ${m.params.args.map((a) => a.value ?? a.description ?? "").join(" ")}`);
      else if (m.method === "Runtime.exceptionThrown") findings.exceptions.push(m.params.exceptionDetails.exception?.description ?? m.params.exceptionDetails.text);
      else if (m.method === "Log.entryAdded") {
        const e = m.params.entry;
        if (e.level === "error" || e.level === "warning" || /Content Security Policy/i.test(e.text)) (/Content Security Policy/i.test(e.text) ? findings.violations : findings.console).push(`${e.level}: ${e.text}${e.url ? ` (${e.url})` : ""}`);
      } else if (m.method === "Page.loadEventFired") loaded();
    });
    for (const d of ["Network.enable", "Runtime.enable", "Log.enable", "Page.enable"]) await send(d, {}, sessionId);
    await send("Page.navigate", { url }, sessionId);
    await load;
    const { result } = await send("Runtime.evaluate", { expression: PROBE, returnByValue: true }, sessionId);
    findings.page = JSON.parse(result.value);
    if (options.screenshot) {
      const height = Math.min(findings.page.height, 16_000);
      await send("Emulation.setDeviceMetricsOverride", { width, height, deviceScaleFactor: 1, mobile: false }, sessionId);
      const shot = await send("Page.captureScreenshot", { format: "png", captureBeyondViewport: true }, sessionId);
      writeFileSync(options.screenshot, Buffer.from(shot.data, "base64"));
      findings.screenshot = { path: options.screenshot, width, height };
    }
    await send("Browser.close").catch(() => {});
  } catch (e) {
    throw new Error(`chromium: ${e.message}\n${stderr.slice(-2000)}`);
  } finally {
    clearTimeout(timeout);
    if (child.exitCode === null) child.kill("SIGKILL");
    await exited;
    try {
      process.kill(-child.pid, "SIGKILL"); // any helper of this browser still alive
    } catch {
      // the group is already gone
    }
    // A helper may flush into the profile as it dies: retry the removal briefly.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }
  // The document itself is the one request a page must make.
  findings.requests = findings.requests.filter((r) => r !== url);
  return findings;
}

/** Problems in the findings: empty when the page is clean. */
export function problems(f) {
  const out = [];
  if (f.requests.length) out.push(`network requests: ${f.requests.join(", ")}`);
  if (f.console.length) out.push(`console: ${f.console.join(" | ")}`);
  if (f.exceptions.length) out.push(`exceptions: ${f.exceptions.join(" | ")}`);
  if (f.violations.length) out.push(`CSP violations: ${f.violations.join(" | ")}`);
  for (const fig of f.page?.figures ?? []) if (!(fig.marks > 0 && fig.width > 0 && fig.height > 0)) out.push(`plot ${fig.id}: ${fig.marks} marks, ${fig.width}×${fig.height} px`);
  if (!f.page?.figures.length) out.push("no plot on the page");
  return out;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const [file, ...rest] = process.argv.slice(2);
  if (!file) {
    console.error("usage: node scripts/report-browser.mjs report.html [--screenshot out.png] [--width 1280]");
    process.exit(2);
  }
  if (!findChromium()) {
    console.error("chromium not found: install Debian's chromium (apt-get install chromium) or set CHROMIUM");
    process.exit(3);
  }
  const opt = {};
  for (let i = 0; i < rest.length; i += 2) {
    if (rest[i] === "--screenshot") opt.screenshot = rest[i + 1];
    else if (rest[i] === "--width") opt.width = Number(rest[i + 1]);
    else {
      console.error(`unknown option ${rest[i]}`);
      process.exit(2);
    }
  }
  const f = await checkReport(file, opt);
  const p = problems(f);
  process.stdout.write(`${JSON.stringify({ ...f, problems: p }, null, 2)}\n`);
  process.exit(p.length ? 1 : 0);
}
