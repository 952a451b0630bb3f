#!/usr/bin/env node
// The replay of an ended show, in headless Chromium with the real hls.js livesale serves, against
// a real server (tests/browser_apps/replay.rs). Two H.264 canvas cameras (red and blue,
// web/test/whip-canvas.html?clock=1: the top of every frame carries the time it was drawn) are
// cut three times after the first goes on air, three products are pinned at distinct moments
// (the host chats at each), then the show ends. Then:
//
//   1. the chapters: the three pins at their moments (pts within the pin request, at_ms = pts
//      less the replay's first program date, ±1 part), the four cuts likewise;
//   2. the viewer page plays the replay with hls.js from start to end at 4× (every segment
//      loaded, no error, no stall, currentTime reaches the duration, `ended` fires); every frame
//      is read off the screen: between two cuts the picture is the camera the chapter names, and
//      the page's camera (`#viewer[data-program]`) and current chapter say the same; each frame's
//      time on the replay's timeline matches the time it was drawn (the timeline is in place);
//   3. the chapter list shows the pins at their times; a click on the second pin's chapter seeks
//      there: the picture is the one drawn at the pin, the pinned card is that product;
//   4. a shared clip (`?t=&end=`) opens at t, pauses at its end, and "Watch the whole replay"
//      plays on;
//   5. view beacons went out (`POST …/replay/views`);
//   6. after the merge of the replay's data and commerce (issue 17, items 4-6): the transcript
//      has the pins and the host's chat at their times, the page's camera
//      (`#viewer[data-program]`) was the chapter's between cuts, the replayed chat shows the
//      host's messages at the second pin, the product bought from the replay is an order with channel "replay",
//      `GET …/replay/stats` counts it (and the views), and the highlights list it.
//
// Extra arguments: --red-token, --blue-token (camera invites), --part-ms (the server's part).
// Prints one JSON line on stdout (see lib.mjs).

import {
  api, launchBrowser, log, person, scenario, sleep, until, stats, DESKTOP, PHONE, installFrameReader,
} from './lib.mjs';
import { audit } from './axe.mjs';

const {
  opts, base, show, creator, products, step, pages,
} = await scenario('replay', {
  'red-token': { type: 'string' },
  'blue-token': { type: 'string' },
  'part-ms': { type: 'string', default: '500' },
}, {
  required: ['red-token', 'blue-token'],
  deadlineMs: 85000,
  dump: (page) => page.evaluate(() => ({
    replay: window.livesale && window.livesale.replay && { ...window.livesale.replay, events: undefined },
    stage: document.querySelector('#stage-state')?.textContent?.trim(),
  })),
});

const partMs = Number(opts['part-ms']);
const showPath = `/api/shows/${encodeURIComponent(show)}`;
const result = { ok: true };
const check = (cond, what, detail) => {
  if (!cond) throw new Error(`${what}: ${JSON.stringify(detail)}`);
};
const call = async (method, path, token, body) => {
  const r = await api(base, method, path, token, body);
  check(r.status >= 200 && r.status < 300, `${method} ${path} answered ${r.status}`, r.body);
  return r.body;
};

const browser = await step('launch chromium', () => launchBrowser('replay'));
const backstage = await browser.newContext();

// ---- the live show -----------------------------------------------------------------------------

const known = new Set();
/** A canvas camera of `colour` over WHIP with H.264; its camera id once the server lists it. */
async function publish(colour, token) {
  const page = await backstage.newPage();
  pages[`camera-${colour}`] = page;
  await page.goto(`${base}/static/test/whip-canvas.html?colour=${colour}&codec=h264&clock=1&width=640&height=360&fps=30`);
  await until(page, () => window.whipReady === true, null, `the ${colour} camera page`);
  await page.evaluate((a) => window.whip.start(a), { endpoint: `${base}${showPath}/whip`, token, codec: 'h264' });
  for (let i = 0; i < 100; i += 1) {
    const fresh = (await call('GET', `${showPath}/cameras`, creator)).cameras.filter((c) => !known.has(c.id));
    if (fresh.length === 1) {
      known.add(fresh[0].id);
      return fresh[0].id;
    }
    await sleep(100);
  }
  throw new Error(`the ${colour} camera never appeared`);
}

const cameras = {};
// The first camera to connect goes on air by itself (its cut chapter is then).
const firstOnAir = Date.now();
cameras.red = await step('the red camera publishes', () => publish('red', opts['red-token']));
cameras.blue = await step('the blue camera publishes', () => publish('blue', opts['blue-token']));
const colourOf = { [cameras.red]: 'red', [cameras.blue]: 'blue' };

// The host's chat, from a page of the same browser (node 20 has no WebSocket).
const host = await step('the host joins the room', async () => {
  const page = await backstage.newPage();
  pages.host = page;
  await page.goto(`${base}/`);
  await page.evaluate((url) => new Promise((resolve, reject) => {
    window.hostWs = new WebSocket(url);
    window.hostWs.onopen = resolve;
    window.hostWs.onerror = () => reject(new Error('the WebSocket failed'));
  }), `${base.replace(/^http/, 'ws')}${showPath}/ws?v=1&token=${encodeURIComponent(creator)}`);
  return page;
});
const say = (text) => host.evaluate((t) => window.hostWs.send(JSON.stringify({ type: 'chat.send', text: t })), text);

// A viewer watching live when the show ends: their page offers the replay once it is ready.
const live = await step('a viewer watches the show live', async () => {
  const page = await backstage.newPage();
  pages.live = page;
  await page.goto(`${base}/s/${encodeURIComponent(show)}`);
  await until(page, () => window.livesale && window.livesale.ready === true && window.livesale.room, null, 'the live page');
  return page;
});

const marks = { cuts: [], pins: [], chat: [] };
const timed = async (fn) => {
  const before = Date.now();
  await fn();
  return { before, after: Date.now() };
};
const cut = async (name) => {
  const t = await timed(() => call('POST', `${showPath}/program`, creator, { camera: cameras[name] }));
  marks.cuts.push({ camera: cameras[name], colour: name, ...t, before: marks.cuts.length ? t.before : firstOnAir });
};
const pin = async (i) => {
  const t = await timed(() => call('POST', `${showPath}/pins`, creator, { product_id: products[i] }));
  marks.pins.push({ product_id: products[i], ...t });
  const text = `At pin ${i + 1}`;
  await say(text);
  marks.chat.push({ text, at: Date.now() });
};

await step('the show: red on air, three cuts, three pins, the end', async () => {
  await cut('red');
  await sleep(3000);
  await pin(0);
  await sleep(2000);
  await cut('blue');
  await sleep(2500);
  await pin(1);
  await sleep(2000);
  await cut('red');
  await sleep(2500);
  await pin(2);
  await sleep(2000);
  await cut('blue');
  await sleep(3000);
  await call('POST', `${showPath}/end`, creator, {});
  return marks;
});
for (const [label, page] of Object.entries(pages)) {
  if (label.startsWith('camera-')) await page.evaluate(() => window.whip.stop()).catch(() => {});
}

// ---- the recording and its chapters -----------------------------------------------------------

const playlist = await step('the replay is ready', async () => {
  for (let i = 0; i < 60; i += 1) {
    const res = await fetch(`${base}${showPath}/replay.m3u8`);
    if (res.status === 200) {
      const text = await res.text();
      const pdts = [...text.matchAll(/^#EXT-X-PROGRAM-DATE-TIME:(.+)$/gm)].map((m) => Date.parse(m[1]));
      const durations = [...text.matchAll(/^#EXTINF:([\d.]+)/gm)].map((m) => Number(m[1]));
      return { origin: pdts[0], segments: durations.length, duration_s: durations.reduce((a, b) => a + b, 0), discontinuities: (text.match(/#EXT-X-DISCONTINUITY\n/g) || []).length };
    }
    await sleep(500);
  }
  throw new Error('replay.m3u8 never answered 200');
});
result.playlist = playlist;

result.offer = await step('the live page offers the replay, and its link opens it', async () => {
  await until(live, () => {
    const a = document.querySelector('#replay-link');
    return Boolean(a && !a.hidden && a.getBoundingClientRect().height > 0);
  }, null, '"Watch the replay" on the live page', 45000);
  await live.click('#replay-link');
  await until(live, () => window.livesale && window.livesale.mode === 'replay', null, 'the replay after the link', 20000);
  await live.close();
  return { offered: true };
});

const chapters = await step('the chapters: the pins and cuts at their moments (±1 part)', async () => {
  const list = (await call('GET', `${showPath}/chapters`)).chapters;
  // A cut is stamped when the program switches, just after the request answers: within a part.
  const near = (c, m) => c.pts >= m.before - 50 && c.pts <= m.after + partMs;
  const placed = (kind, m, extra) => {
    const c = list.find((x) => x.kind === kind && near(x, m) && extra(x));
    check(c, `no ${kind} chapter for ${JSON.stringify(m)}`, list);
    const expected = Math.max(0, c.pts - playlist.origin);
    check(Math.abs(c.at_ms - expected) <= partMs, `the ${kind} chapter is not at pts - origin`, { c, expected });
    return { ...c, ...m };
  };
  return {
    pins: marks.pins.map((m) => placed('pin', m, (x) => x.product_id === m.product_id)),
    cuts: marks.cuts.map((m) => placed('cut', m, () => true)),
    all: list,
  };
});
result.chapters = { pins: chapters.pins.map((c) => c.at_ms), cuts: chapters.cuts.map((c) => c.at_ms) };

// ---- the replay page -----------------------------------------------------------------------------

/** Reads every frame the page presents: its colour, the time drawn at its top, its place. */
async function installProbe(page) {
  await installFrameReader(page);
  await page.evaluate(() => {
    const v = document.querySelector('#program');
    const frames = [];
    const root = document.querySelector('#viewer');
    const tick = (_, meta) => {
      const t = Date.now();
      if (v.videoWidth) {
        const { colour, pic } = window.__frameReader.read(v, t);
        const current = document.querySelector('#chapter-list [aria-current="true"]');
        frames.push({
          mt: meta.mediaTime,
          at: window.livesale.replay.atOf(meta.mediaTime),
          colour,
          pic,
          program: root.dataset.program || null,
          chapter: current ? current.closest('li').dataset.chapterId : null,
        });
      }
      v.requestVideoFrameCallback(tick);
    };
    v.requestVideoFrameCallback(tick);
    const counts = { waiting: 0, ended: 0, playing: 0 };
    const waits = [];
    for (const ev of Object.keys(counts)) {
      v.addEventListener(ev, () => {
        counts[ev] += 1;
        if (ev === 'waiting') {
          const b = v.buffered;
          const ahead = Array.from({ length: b.length }, (_, i) => [b.start(i), b.end(i)])
            .find(([from, to]) => from <= v.currentTime && v.currentTime < to);
          // Data missing at the playhead (less than half a second buffered ahead, not at the
          // end) is a stall; a `waiting` with the data there is the decoder catching up at 4×.
          const starved = !ahead || (ahead[1] - v.currentTime < 0.5 && ahead[1] < v.duration - 0.05);
          waits.push({ t: v.currentTime, readyState: v.readyState, starved });
        }
      });
    }
    window.__probe = { frames, counts, waits };
  });
}

/** The view beacons each replay page sent, by its label. */
const beaconsSent = {};

/** Opens the viewer page of the ended show (a new person); resolves once the replay is ready. */
async function replayPage(label, query = '', size = DESKTOP) {
  const context = await person(browser, base, label, size);
  const page = await context.newPage();
  pages[label] = page;
  const requests = [];
  beaconsSent[label] = requests;
  page.on('request', (r) => {
    if (r.url().includes('/replay/views')) requests.push({ method: r.method(), body: r.postData() });
  });
  const res = await page.goto(`${base}/s/${show}${query}`, { waitUntil: 'load' });
  check(res && res.status() === 200, 'the viewer page', res && res.status());
  await until(page, () => window.livesale && window.livesale.mode === 'replay' && window.livesale.replay.state === 'ready',
    null, 'the replay page to be ready', 20000);
  return page;
}

const page = await step('the viewer page opens the replay', () => replayPage('viewer'));
await step('the probe reads the picture', () => installProbe(page));

result.page_chapters = await step('the page lists the chapters: the pins at their times', () => page.evaluate((want) => {
  const items = [...document.querySelectorAll('#chapter-list li.chapter')].map((li) => ({
    id: li.dataset.chapterId, kind: li.dataset.kind, at_ms: Number(li.dataset.atMs), product_id: li.dataset.productId, text: li.textContent.trim(),
  }));
  for (const c of want) {
    const got = items.find((i) => i.id === c.id);
    if (!got || got.at_ms !== c.at_ms) throw new Error(`chapter ${c.id} is not listed at ${c.at_ms}: ${JSON.stringify(items)}`);
    const s = Math.floor(c.at_ms / 1000);
    if (!got.text.endsWith(` · ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`)) throw new Error(`chapter text ${got.text}`);
  }
  return items;
}, [...chapters.pins, ...chapters.cuts].map((c) => ({ id: c.id, at_ms: c.at_ms }))));

result.a11y = await step('the replay page passes axe at phone and desktop sizes', async () => {
  const found = {};
  await audit(page, 'replay', found);
  check(found.violations.length === 0, 'serious or critical violations', found.violations);
  return { audited: found.audited, minor: found.minor.map((v) => v.id) };
});

result.playback = await step('hls.js plays the whole replay at 4× (all segments, no error, no stall, ended)', async () => {
  // Everything buffered first: what is judged is the player across cuts and discontinuities.
  await until(page, () => {
    const s = window.livesale.replay.stats;
    return s.loaded.length >= s.segments;
  }, null, 'every segment loaded', 20000);
  await page.evaluate(async () => {
    const v = document.querySelector('#program');
    v.pause();
    const seeked = new Promise((r) => { v.addEventListener('seeked', r, { once: true }); });
    v.currentTime = 0;
    await seeked;
    window.__probe.frames.length = 0;
    window.__probe.counts.waiting = 0;
    window.__probe.waits.length = 0;
    window.__probe.stallsBefore = window.livesale.replay.stats.stalls;
    v.playbackRate = 4;
    window.__probe.playedAt = performance.now();
    v.addEventListener('ended', () => { window.__probe.endedAt = performance.now(); }, { once: true });
    return v.play();
  });
  const budget = (playlist.duration_s / 4) * 1000 + 15000;
  await until(page, () => window.__probe.counts.ended > 0, null, 'the ended event', budget);
  const out = await page.evaluate(() => {
    const v = document.querySelector('#program');
    const s = window.livesale.replay.stats;
    return {
      currentTime: v.currentTime, duration: v.duration, ended: v.ended, engine: s.engine, segments: s.segments,
      loaded: s.loaded.length, errors: s.errors, fatal: s.fatal, stalls: s.stalls - window.__probe.stallsBefore, waits: window.__probe.waits, starved: window.__probe.waits.filter((w) => w.starved).length,
      wall_ms: Math.round(window.__probe.endedAt - window.__probe.playedAt),
      frames: window.__probe.frames.length,
    };
  });
  check(out.engine === 'hls.js', 'the engine', out);
  check(out.loaded === out.segments && out.segments === playlist.segments, 'segments loaded', out);
  check(out.fatal === 0 && !out.errors.some((e) => /frag|level|manifest|append|parsing/i.test(e.details)), 'player errors', out);
  // No stall: hls.js never reported one, the data was always there, and the whole replay
  // played in about a quarter of its length.
  check(out.stalls === 0 && out.starved === 0, 'a stall', out);
  check(out.wall_ms <= (playlist.duration_s * 1000) / 4 + 3000, 'the replay played slower than 4×', out);
  check(Math.abs(out.currentTime - out.duration) < 0.25 && Math.abs(out.duration - playlist.duration_s) < 1, 'the end', out);
  return out;
});

result.cuts = await step('every cut in place: the picture, the page\'s camera and chapter between cuts', async () => {
  const frames = await page.evaluate(() => window.__probe.frames);
  const cuts = chapters.cuts;
  const out = [];
  for (let i = 0; i < cuts.length; i += 1) {
    const from = cuts[i].at_ms;
    const to = i + 1 < cuts.length ? cuts[i + 1].at_ms : Infinity;
    const colour = colourOf[cuts[i].camera];
    const inside = frames.filter((f) => f.at >= from + 1500 && f.at <= to - 300);
    const right = inside.filter((f) => f.colour === colour).length;
    const labelled = inside.filter((f) => f.program === cuts[i].camera).length;
    const chaptered = frames.filter((f) => f.at >= from + 100 && f.at < Math.min(to, chapters.pins.find((p) => p.at_ms > from)?.at_ms ?? Infinity) - 100);
    const firstOwn = frames.find((f) => f.at >= from - 1000 && f.colour === colour && (i === 0 || f.at >= cuts[i - 1].at_ms + 1500));
    const entry = {
      camera: colour, at_ms: from, frames: inside.length, right_colour: right, right_program: labelled,
      first_frame_minus_chapter_ms: firstOwn ? firstOwn.at - from : null,
      chapter_current: chaptered.filter((f) => f.chapter === cuts[i].id).length, chapter_frames: chaptered.length,
    };
    out.push(entry);
    check(inside.length >= 5 && right >= 0.95 * inside.length, `the picture after the cut to ${colour}`, entry);
    check(entry.first_frame_minus_chapter_ms !== null && entry.first_frame_minus_chapter_ms >= -partMs && entry.first_frame_minus_chapter_ms <= 1500, `the cut to ${colour} is not at its chapter`, entry);
    check(chaptered.length === 0 || entry.chapter_current === chaptered.length, `the current chapter after the cut to ${colour}`, entry);
  }
  // The timeline: each frame's place on the replay's timeline against the time it was drawn.
  const offsets = frames.filter((f) => f.colour === 'red' || f.colour === 'blue').map((f) => playlist.origin + f.at - f.pic);
  result.timeline_minus_drawn_ms = stats(offsets);
  check(offsets.length > 20 && result.timeline_minus_drawn_ms.max - result.timeline_minus_drawn_ms.min <= 1000, 'the timeline against the drawn times', result.timeline_minus_drawn_ms);
  return out;
});

const second = chapters.pins[1];
result.seek = await step('a click on the second pin\'s chapter: its picture and its product', async () => {
  await page.evaluate(() => { const v = document.querySelector('#program'); v.playbackRate = 1; });
  await page.click(`#chapter-list li.chapter[data-chapter-id="${second.id}"] button`);
  await until(page, (id) => {
    const v = document.querySelector('#program');
    return !v.seeking && v.readyState >= 2 && document.querySelector(`#pins .pin-card[data-product-id="${id}"]`);
  }, second.product_id, 'the second pin\'s card', 10000);
  await page.evaluate(() => document.querySelector('#program').pause());
  await sleep(300);
  return page.evaluate(([pin, third, pts]) => {
    const frames = window.__probe.frames;
    const f = frames[frames.length - 1];
    const out = {
      at: window.livesale.replay.at(),
      cards: [...document.querySelectorAll('#pins .pin-card')].map((c) => c.dataset.productId),
      current: document.querySelector('#chapter-list [aria-current="true"]')?.closest('li').dataset.chapterId,
      picture_minus_pts_ms: f ? f.pic - pts : null,
    };
    if (!out.cards.includes(pin) || out.cards.includes(third)) throw new Error(`cards ${JSON.stringify(out)}`);
    if (out.picture_minus_pts_ms === null || Math.abs(out.picture_minus_pts_ms) > 1000) throw new Error(`the picture at the chapter ${JSON.stringify(out)}`);
    return out;
  }, [second.product_id, products[2], second.pts]);
});

result.clip = await step('a shared clip opens at t, stops at its end, and plays on', async () => {
  const third = chapters.pins[2];
  const t = (third.at_ms / 1000).toFixed(3);
  const end = ((third.at_ms + 2000) / 1000).toFixed(3);
  const clipPage = await replayPage('clip', `?t=${t}&end=${end}`, PHONE);
  await until(clipPage, (endMs) => {
    const v = document.querySelector('#program');
    return v.paused && window.livesale.replay.at() >= endMs - 100 && !document.querySelector('#clip-bar').hidden;
  }, third.at_ms + 2000, 'the clip to stop at its end', 15000);
  const stopped = await clipPage.evaluate(() => window.livesale.replay.at());
  check(stopped <= third.at_ms + 2000 + 800, 'the clip stopped late', { stopped });
  await clipPage.click('#watch-all');
  await until(clipPage, (endMs) => window.livesale.replay.at() > endMs + 500 && !document.querySelector('#program').paused, third.at_ms + 2000, 'the replay to play on', 10000);
  await clipPage.close();
  return { start: Number(t), end: Number(end), stopped_at_ms: stopped };
});

result.beacons = await step('view beacons went out', async () => {
  await until(page, () => window.livesale.replay.beacons.length > 0, null, 'a beacon', 5000);
  const sent = beaconsSent.viewer.map((r) => JSON.parse(r.body || '{}'));
  check(sent.length > 0 && sent.every((b) => /^[0-9a-f-]{36}$/.test(b.view_id) && b.watched_ms > 0), 'the beacons', sent);
  return { sent, answered: await page.evaluate(() => window.livesale.replay.beacons) };
});

// ---- after the merge: the transcript, buying from the replay, stats, highlights ----------------

result.transcript = await step('the transcript: pins and chat at their times', async () => {
  const got = await call('GET', `${showPath}/replay/events`);
  check(Math.abs(got.origin_ms - playlist.origin) <= 1, 'origin_ms', { got: got.origin_ms, playlist: playlist.origin });
  for (const p of chapters.pins) {
    const e = got.events.find((x) => x.type === 'pin.updated' && Math.abs(x.at_ms - p.at_ms) <= partMs && x.pins.some((q) => q.product_id === p.product_id));
    check(e, 'no pin.updated at the pin', { pin: p, events: got.events });
  }
  // The page's camera (from the transcript's program.changed) between cuts, as played.
  for (const c of result.cuts) check(c.right_program === c.frames, `the page's camera after the cut to ${c.camera}`, c);
  // A second after the second pin (its chat line follows the pin by a few milliseconds).
  const chat = await page.evaluate(async (at) => {
    const v = document.querySelector('#program');
    const seeked = new Promise((r) => { v.addEventListener('seeked', r, { once: true }); });
    window.livesale.replay.seek(at);
    await seeked;
    await new Promise((r) => { setTimeout(r, 200); });
    document.querySelector('#tab-chat').click();
    return [...document.querySelectorAll('#chat-list li.msg .text')].map((x) => x.textContent);
  }, second.at_ms + 1000);
  check(chat.includes('At pin 1') && chat.includes('At pin 2') && !chat.includes('At pin 3'), 'the chat at the second pin', chat);
  return { events: got.events.length, chat };
});

result.order = await step('buying the product pinned there, from the replay', async () => {
  await page.click(`#pins .pin-card[data-product-id="${second.product_id}"] .add-to-cart`);
  await until(page, () => !document.querySelector('#join-form').hidden, null, 'the name form');
  await page.fill('#display-name', 'Rita');
  await page.click('#join-form button[type=submit]');
  await until(page, () => document.querySelector('#cart-count').textContent === '1', null, 'the cart to hold it', 10000);
  await page.click('#cart-button');
  await page.click('#checkout');
  const orderId = await until(page, () => {
    const c = document.querySelector('#order-confirmation');
    return !c.hidden && c.dataset.orderId;
  }, null, 'the order confirmation', 10000);
  const orders = await call('GET', `${showPath}/orders`, creator);
  const order = orders.orders.find((o) => o.id === orderId);
  check(order && order.channel === 'replay' && order.status === 'paid', 'the order', order);
  return { id: orderId, channel: order.channel, status: order.status };
});

result.stats = await step('the replay stats count the sale and the view', async () => {
  await page.goto('about:blank'); // pagehide: the last beacon
  await sleep(500);
  const s = await call('GET', `${showPath}/replay/stats`, creator);
  check(s.views >= 1 && s.watch_time_s > 0 && s.replay.orders === 1 && s.replay.units === 1 && s.live.orders === 0, 'the stats', s);
  return s;
});

result.highlights = await step('the highlights list the product sold', async () => {
  const h = (await call('GET', `${showPath}/highlights`)).highlights;
  const x = h.find((i) => i.product_id === second.product_id);
  check(x && x.start_ms <= second.at_ms && x.end_ms > second.at_ms && x.url.includes(`/s/${show}?t=`), 'the highlight', h);
  return h;
});

result.download = await step('the creator downloads the recording from the dashboard', async () => {
  const page = await backstage.newPage();
  pages.dashboard = page;
  await page.goto(`${base}/signin#token=${encodeURIComponent(creator)}`);
  await page.waitForURL(/\/dashboard/);
  await page.goto(`${base}/dashboard#shows/${encodeURIComponent(show)}`);
  await until(page, (id) => document.querySelector('#show-detail')?.dataset.showId === id, show, 'the show\'s panel');
  const [file] = await Promise.all([page.waitForEvent('download'), page.click('#sd-recording')]);
  const path = await file.path();
  const { statSync } = await import('node:fs');
  const bytes = statSync(path).size;
  const served = await fetch(`${base}${showPath}/recording.mp4`, { method: 'HEAD', headers: { Authorization: `Bearer ${creator}` } });
  const length = Number(served.headers.get('content-length'));
  check(file.suggestedFilename().endsWith('.mp4') && bytes > 0 && bytes === length, 'the downloaded recording', { name: file.suggestedFilename(), bytes, length });
  return { name: file.suggestedFilename(), bytes };
});

log(`replay: ${JSON.stringify({ cuts: result.cuts, timeline: result.timeline_minus_drawn_ms, seek: result.seek })}`);
const { finish } = await import('./lib.mjs');
await finish(result);
