// Reading parkfeed-api: every answer is kept with its ETag and asked for again with
// If-None-Match, so a refresh that finds nothing new costs a 304 and no parsing.

export class ApiError extends Error {
	constructor(status, detail) {
		super(detail || `HTTP ${status}`);
		this.status = status;
		this.detail = detail || '';
	}
}

const kept = new Map(); // url -> { etag, data }
// A server that accepts and never answers must not stop the refreshing: a request is given up
// after twice the refresh interval (5 to 30 s), set by refreshSeconds.
let timeoutMs = 20000;

export class TimeoutError extends Error {}

// { data, changed } for url; changed is false when the server answered 304.
export async function getJSON(url) {
	const old = kept.get(url);
	const headers = { Accept: 'application/json' };
	if (old)
		headers['If-None-Match'] = old.etag;
	const abort = new AbortController();
	const timer = setTimeout(() => abort.abort(), timeoutMs);
	let r;
	try {
		// no-store: the browser's cache would answer 304s itself and hide them from us.
		r = await fetch(url, { headers, cache: 'no-store', signal: abort.signal });
	} catch (e) {
		throw abort.signal.aborted ? new TimeoutError(url) : e;
	} finally {
		clearTimeout(timer);
	}
	if (r.status === 304 && old)
		return { data: old.data, changed: false };
	if (!r.ok) {
		let detail = '';
		try {
			detail = (await r.json()).detail || '';
		} catch (e) {
			// Not a problem document: the status says enough.
		}
		throw new ApiError(r.status, detail);
	}
	const data = await r.json();
	const etag = r.headers.get('ETag');
	if (etag)
		kept.set(url, { etag, data });
	return { data, changed: true };
}

// Seconds between refreshes: ?refresh=N (1..3600) in the page's address, else fallback.
export function refreshSeconds(fallback) {
	let n = Number(new URLSearchParams(location.search).get('refresh'));
	if (!Number.isInteger(n) || n < 1 || n > 3600)
		n = fallback;
	timeoutMs = Math.min(30, Math.max(5, 2 * n)) * 1000;
	return n;
}

// Run task now and every seconds after it finished; not while the page is hidden, and at once
// when it is shown again. Returns a function that runs it now (outside the schedule).
export function poll(task, seconds) {
	let timer = null;
	let running = false;
	const run = async () => {
		clearTimeout(timer);
		timer = null;
		if (running)
			return;
		running = true;
		try {
			await task();
		} finally {
			running = false;
			if (!document.hidden)
				timer = setTimeout(run, seconds * 1000);
		}
	};
	document.addEventListener('visibilitychange', () => {
		if (!document.hidden && timer === null && !running)
			run();
	});
	run();
	return run;
}
