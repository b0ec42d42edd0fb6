// The page's two languages (Chinese by default, English by the switch), and numbers, dates
// and times formatted for the language, always in Asia/Shanghai whatever the browser's zone.

export const TIME_ZONE = 'Asia/Shanghai';
const STORE_KEY = 'parkfeed.lang';

const STRINGS = {
	zh: {
		title_map: '焦作市停车地图',
		title_ledger: '停车场接入台账',
		doc_title_map: '焦作市停车地图',
		doc_title_ledger: '停车场接入台账',
		skip_to_list: '跳到停车场列表',
		skip_to_ledger: '跳到台账',
		nav_label: '页面',
		nav_map: '地图',
		nav_ledger: '接入台账',
		switch_to: 'English',
		switch_label: 'Switch to English',
		updated: '数据更新于 {time}',
		checking: '正在读取数据…',
		lost: '暂时读不到数据（{why}），正在重试。',
		map_label: '停车场地图',
		side_label: '停车场、区县与附近',
		tab_lots: '停车场',
		tab_districts: '区县',
		tab_near: '附近',
		filter_district: '区县',
		all_districts: '全部区县',
		filter_text: '搜索',
		filter_placeholder: '名称、地址或编号',
		lots_caption: '停车场列表',
		lots_count: '显示 {shown} 个，共 {total} 个停车场',
		col_name: '名称',
		col_district: '区县',
		col_free: '空位',
		col_lots: '停车场',
		col_online: '在线',
		col_stale: '滞后',
		col_offline: '离线',
		col_free_total: '空位/车位',
		districts_caption: '各区县停车场状态（空位只计在线停车场）',
		total_row: '合计',
		unknown_district: '（未知区县）',
		no_data: '无数据',
		fresh_online: '在线',
		fresh_stale: '数据滞后',
		fresh_offline: '离线',
		status_open: '开放',
		status_closed: '已关闭',
		status_full: '已满',
		free_of: '{free} / {total}',
		spaces: '空位',
		address: '地址',
		district: '区县',
		free_total: '空位 / 车位',
		observed: '最后观测',
		freshness: '数据状态',
		status: '营业状态',
		ago: '（{when}）',
		show_all: '全市',
		show_all_label: '显示全市所有停车场',
		lots_online: '在线 / 滞后 / 离线',
		lots: '停车场',
		close: '关闭',
		curve_lot: '{name}：最近 24 小时平均空位（每 15 分钟）',
		curve_district: '{name}：最近 24 小时空位合计（每 15 分钟）',
		curve_summary: '最近 24 小时空位曲线：最少 {min}，最多 {max}，最近 {last}',
		curve_none: '最近 24 小时没有观测数据。',
		curve_series: '空位',
		legend_title: '空位比例',
		legend_many: '30% 以上',
		legend_some: '10%–30%',
		legend_few: '10% 以下',
		legend_grey: '滞后、离线或无数据',
		near_hint: '点击地图上的位置，或使用下面的按钮，查找最近的停车场。',
		near_me: '我的位置附近',
		near_centre: '地图中心附近',
		near_searching: '正在查找最近的停车场…',
		near_result: '离{where}最近的 {n} 个停车场',
		near_where_me: '您的位置',
		near_where_point: '所选位置',
		near_where_centre: '地图中心',
		near_no_geo: '无法取得您的位置（{why}）。请在地图上点击一个位置。',
		near_none: '附近没有停车场。',
		distance: '距离',
		year: '年度',
		as_of: '截至日期',
		show: '查看',
		print: '打印',
		ledger_title: '{year}年停车场接入市级智慧停车平台进度',
		ledger_note: '截至{as_of}，此数据包含去年数据，为累计数。',
		ledger_empty: '{year}年还没有设定任务目标。',
		l_district: '县（市、区）',
		l_target: '全年任务目标',
		l_completed: '完成数',
		l_completed_rank: '完成情况排名',
		l_rate: '完成率',
		l_rate_rank: '完成率排名',
		map_attr_plain: '底图：无（区县名称按停车场位置标注）',
		error_http: 'HTTP {status}',
		error_network: '网络错误',
		error_timeout: '服务器没有应答',
	},
	en: {
		title_map: 'Jiaozuo parking map',
		title_ledger: 'Lots connected: the ledger',
		doc_title_map: 'Jiaozuo parking map',
		doc_title_ledger: 'Lots connected: the ledger',
		skip_to_list: 'Skip to the list of lots',
		skip_to_ledger: 'Skip to the ledger',
		nav_label: 'Pages',
		nav_map: 'Map',
		nav_ledger: 'Ledger',
		switch_to: '中文',
		switch_label: '切换到中文',
		updated: 'Data as of {time}',
		checking: 'Reading the data…',
		lost: 'The data cannot be read just now ({why}); retrying.',
		map_label: 'Map of the parking lots',
		side_label: 'Lots, districts and nearby',
		tab_lots: 'Lots',
		tab_districts: 'Districts',
		tab_near: 'Nearby',
		filter_district: 'District',
		all_districts: 'All districts',
		filter_text: 'Search',
		filter_placeholder: 'Name, address or id',
		lots_caption: 'Parking lots',
		lots_count: '{shown} of {total} lots',
		col_name: 'Name',
		col_district: 'District',
		col_free: 'Free',
		col_lots: 'Lots',
		col_online: 'Online',
		col_stale: 'Stale',
		col_offline: 'Offline',
		col_free_total: 'Free/total',
		districts_caption: 'Lots by district (free spaces in online lots only)',
		total_row: 'Total',
		unknown_district: '(unknown district)',
		no_data: 'no data',
		fresh_online: 'online',
		fresh_stale: 'stale',
		fresh_offline: 'offline',
		status_open: 'open',
		status_closed: 'closed',
		status_full: 'full',
		free_of: '{free} / {total}',
		spaces: 'free',
		address: 'Address',
		district: 'District',
		free_total: 'Free / total',
		observed: 'Last observed',
		freshness: 'Data',
		status: 'Status',
		ago: ' ({when})',
		show_all: 'All',
		show_all_label: 'Show every lot of the city',
		lots_online: 'Online / stale / offline',
		lots: 'Lots',
		close: 'Close',
		curve_lot: '{name}: average free spaces, last 24 hours (15 min)',
		curve_district: '{name}: free spaces, last 24 hours (15 min)',
		curve_summary: 'Free spaces over the last 24 hours: lowest {min}, highest {max}, latest {last}',
		curve_none: 'No observations in the last 24 hours.',
		curve_series: 'Free spaces',
		legend_title: 'Free share',
		legend_many: '30% or more',
		legend_some: '10%–30%',
		legend_few: 'under 10%',
		legend_grey: 'stale, offline or no data',
		near_hint: 'Click a place on the map, or use a button below, to find the nearest lots.',
		near_me: 'Near me',
		near_centre: 'Near the map centre',
		near_searching: 'Looking for the nearest lots…',
		near_result: 'The {n} lots nearest to {where}',
		near_where_me: 'your position',
		near_where_point: 'the chosen place',
		near_where_centre: 'the map centre',
		near_no_geo: 'Your position is not available ({why}). Click a place on the map instead.',
		near_none: 'No lots nearby.',
		distance: 'Distance',
		year: 'Year',
		as_of: 'As of',
		show: 'Show',
		print: 'Print',
		ledger_title: 'Lots connected to the city platform, {year}',
		ledger_note: 'As of {as_of}; counts are cumulative (earlier years included).',
		ledger_empty: 'No targets are set for {year}.',
		l_district: 'District',
		l_target: 'Target',
		l_completed: 'Completed',
		l_completed_rank: 'Rank (completed)',
		l_rate: 'Rate',
		l_rate_rank: 'Rank (rate)',
		map_attr_plain: 'No base map (district names placed by the lots’ positions)',
		error_http: 'HTTP {status}',
		error_network: 'network error',
		error_timeout: 'the server does not answer',
	},
};

const LOCALES = { zh: 'zh-CN', en: 'en-US' };

function initial() {
	const q = new URLSearchParams(location.search).get('lang');
	if (q === 'zh' || q === 'en')
		return q;
	try {
		const s = localStorage.getItem(STORE_KEY);
		if (s === 'zh' || s === 'en')
			return s;
	} catch (e) {
		// Storage refused (private mode): Chinese, as the default.
	}
	return 'zh';
}

let lang = initial();
let numberFmt, timeFmt, dateTimeFmt, dayFmt, relFmt, distFmt, kmFmt;

function makeFormats() {
	const loc = LOCALES[lang];
	numberFmt = new Intl.NumberFormat(loc);
	distFmt = new Intl.NumberFormat(loc, { maximumFractionDigits: 0 });
	kmFmt = new Intl.NumberFormat(loc, { minimumFractionDigits: 1, maximumFractionDigits: 1 });
	timeFmt = new Intl.DateTimeFormat(loc, {
		timeZone: TIME_ZONE, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
	});
	dateTimeFmt = new Intl.DateTimeFormat(loc, {
		timeZone: TIME_ZONE, year: 'numeric', month: 'short', day: 'numeric',
		hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
	});
	dayFmt = new Intl.DateTimeFormat('en-CA', {
		timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit',
	});
	relFmt = new Intl.RelativeTimeFormat(loc, { numeric: 'auto' });
}
makeFormats();

export function getLang() {
	return lang;
}

export function locale() {
	return LOCALES[lang];
}

// The string for key, with {name} replaced from vars.
export function t(key, vars) {
	let s = STRINGS[lang][key];
	if (s === undefined)
		s = STRINGS.zh[key] ?? key;
	if (vars)
		s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
	return s;
}

export function fmtInt(n) {
	return n === null || n === undefined ? '–' : numberFmt.format(n);
}

// A day in Asia/Shanghai as YYYY-MM-DD.
export function shanghaiDay(date) {
	return dayFmt.format(date);
}

// An instant (RFC 3339 text or Date): the time of day, with the date when not today.
export function fmtWhen(value) {
	const d = value instanceof Date ? value : new Date(value);
	if (shanghaiDay(d) === shanghaiDay(new Date()))
		return timeFmt.format(d);
	return dateTimeFmt.format(d);
}

export function fmtTime(value) {
	return timeFmt.format(value instanceof Date ? value : new Date(value));
}

// "3 minutes ago" for an instant.
export function fmtAgo(value) {
	const s = Math.round((new Date(value).getTime() - Date.now()) / 1000);
	const a = Math.abs(s);
	if (a < 60)
		return relFmt.format(s, 'second');
	if (a < 3600)
		return relFmt.format(Math.round(s / 60), 'minute');
	if (a < 86400)
		return relFmt.format(Math.round(s / 3600), 'hour');
	return relFmt.format(Math.round(s / 86400), 'day');
}

export function fmtDistance(m) {
	return m < 1000 ? `${distFmt.format(m)} m` : `${kmFmt.format(m / 1000)} km`;
}

// Fill the elements marked data-i18n (text) and data-i18n-attr ("attr:key;attr:key").
export function applyStatic(root = document) {
	for (const el of root.querySelectorAll('[data-i18n]'))
		el.textContent = t(el.dataset.i18n);
	for (const el of root.querySelectorAll('[data-i18n-attr]')) {
		for (const pair of el.dataset.i18nAttr.split(';')) {
			const [attr, key] = pair.split(':');
			el.setAttribute(attr, t(key));
		}
	}
	document.documentElement.lang = LOCALES[lang];
}

// The switch button: shows the other language, named in it.
function labelSwitch(button) {
	button.textContent = t('switch_to');
	button.lang = lang === 'zh' ? 'en' : 'zh-CN';
	button.setAttribute('aria-label', t('switch_label'));
}

export function setLang(l) {
	lang = l;
	try {
		localStorage.setItem(STORE_KEY, l);
	} catch (e) {
		// Not kept across visits, which is all that is lost.
	}
	makeFormats();
	const url = new URL(location.href);
	if (url.searchParams.has('lang')) {
		url.searchParams.set('lang', l);
		history.replaceState(null, '', url);
	}
	applyStatic();
	document.dispatchEvent(new CustomEvent('pf-lang'));
}

// Wire the switch button; onChange runs after every switch.
export function setupSwitch(button, onChange) {
	labelSwitch(button);
	button.addEventListener('click', () => {
		setLang(lang === 'zh' ? 'en' : 'zh');
		labelSwitch(button);
		onChange();
	});
}
