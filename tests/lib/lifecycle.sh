# tests/lib/lifecycle.sh: data lifecycle helpers (rollups, retention, the maintenance unit),
# sourced after tests/lib/env.sh once PostgreSQL runs and the schema is migrated.
#
#   pf_lc_feed_setup                   create public.pf_feed (below) for the daemon's login
#   pf_lc_feed LOTS FROM TO STEP OFFSET
#                                      store observations of the lots (space-separated) every
#                                      STEP from FROM + OFFSET until TO through
#                                      parking.ingest_occupancy, as the daemon's login; prints
#                                      the rows stored
#   pf_lc_expect                       fold the raw hourly aggregates of the hours still held
#                                      raw into public.expected_hourly (what the rollups must
#                                      equal, before any drop)
#   pf_lc_rollup_diff                  rows in which parking.occupancy_hourly and
#                                      public.expected_hourly differ (both ways; empty = equal)
#   pf_lc_unit_run CONF [args...]      run parkfeed-maintain.service's ExecStart as systemd would
#                                      (see below)
#
# Observations: total 300, free a hash of lot and time (0..300), occupied = total - free,
# received when observed.

pf_lc_feed_setup() {
	pf_psql <<-'SQL' >/dev/null
	CREATE FUNCTION public.pf_feed(p_lots text[], p_from timestamptz, p_to timestamptz,
	                               p_step interval, p_offset interval) RETURNS bigint
	LANGUAGE plpgsql AS $$
	DECLARE
	    d timestamptz := p_from;
	    nxt timestamptz;
	    n bigint := 0;
	BEGIN
	    WHILE d < p_to LOOP      -- two days a batch, as a daemon's batches would cut them
	        nxt := least(d + interval '2 days', p_to);
	        n := n + coalesce((
	            SELECT parking.ingest_occupancy(array_agg(l ORDER BY t, l),
	                array_agg(us ORDER BY t, l), array_agg(us ORDER BY t, l),
	                array_agg(300 ORDER BY t, l), array_agg(f ORDER BY t, l),
	                array_agg(300 - f ORDER BY t, l), array_agg('open'::text ORDER BY t, l),
	                array_agg(NULL::bigint ORDER BY t, l), array_agg('native'::text ORDER BY t, l))
	            FROM (SELECT l, t, (extract(epoch FROM t) * 1000000)::bigint AS us,
	                         abs(hashtext(l || extract(epoch FROM t)::text)) % 301 AS f
	                  FROM unnest(p_lots) AS l,
	                       generate_series(d + p_offset, nxt - interval '1 microsecond', p_step) AS t) g
	            HAVING count(*) > 0), 0);
	        d := nxt;
	    END LOOP;
	    RETURN n;
	END
	$$;
	CREATE TABLE public.expected_hourly (lot_id text, hour timestamptz, samples bigint,
	                                     free_min integer, free_avg numeric, free_max integer,
	                                     PRIMARY KEY (lot_id, hour));
	SQL
}

# pf_lc_feed "LOT LOT..." FROM TO STEP OFFSET
pf_lc_feed() {
	local -a l
	local lots
	read -r -a l <<<"$1"
	lots=$(IFS=,; echo "${l[*]}")
	pf_psql_as "$PF_DAEMON_CONNINFO" "SELECT public.pf_feed('{$lots}', '$2', '$3', '$4', '$5')"
}

pf_lc_expect() {
	pf_psql <<-'SQL' >/dev/null
	INSERT INTO public.expected_hourly
	SELECT lot_id, date_trunc('hour', observed_at), count(*), min(free), avg(free), max(free)
	FROM parking.occupancy
	WHERE observed_at >= coalesce((SELECT raw_kept_from::timestamp AT TIME ZONE 'Asia/Shanghai'
	                               FROM parking.rollup_state), '-infinity')
	GROUP BY 1, 2
	ON CONFLICT (lot_id, hour) DO UPDATE
	SET samples = EXCLUDED.samples, free_min = EXCLUDED.free_min,
	    free_avg = EXCLUDED.free_avg, free_max = EXCLUDED.free_max
	SQL
}

pf_lc_rollup_diff() {
	pf_psql <<-'SQL'
	(SELECT 'missing', * FROM public.expected_hourly
	 EXCEPT SELECT 'missing', lot_id, hour, samples, free_min, free_avg, free_max
	        FROM parking.occupancy_hourly)
	UNION ALL
	(SELECT 'extra', lot_id, hour, samples, free_min, free_avg, free_max FROM parking.occupancy_hourly
	 EXCEPT SELECT 'extra', * FROM public.expected_hourly)
	ORDER BY 3, 2 LIMIT 10
	SQL
}

# pf_lc_unit_run CONF [args...]: parkfeed-maintain.service as systemd runs it: its ExecStart
# (with /usr/bin/parkfeedctl -> the build's, /etc/parkfeed/parkfeed.conf -> CONF, args
# appended), a clean environment, CREDENTIALS_DIRECTORY holding a copy of each LoadCredential=
# source readable by the service user only, and with DynamicUser=yes a user that is neither
# root nor the daemon's (nobody) when the test runs as root. Sources are taken from
# $PF_TMP/etc/credentials/NAME (the test's /etc/parkfeed/credentials). Output as the command's.
pf_lc_unit_run() {
	local conf=$1 unit=$PF_SOURCE_DIR/systemd/parkfeed-maintain.service line name src
	local creds=$PF_TMP/unit-credentials exec_start="" dynamic=no
	shift
	rm -rf "$creds"
	mkdir -p "$creds"
	while IFS= read -r line; do
		case $line in
		ExecStart=*) exec_start=${line#ExecStart=} ;;
		DynamicUser=*) dynamic=${line#DynamicUser=} ;;
		LoadCredential=*)
			line=${line#LoadCredential=}
			[[ -n $line ]] || continue
			name=${line%%:*}
			src=${line#*:}
			[[ $src == /etc/parkfeed/credentials/* ]] ||
				pf_fail "unit loads a credential from outside /etc/parkfeed/credentials: $src"
			cp "$PF_TMP/etc/credentials/${src##*/}" "$creds/$name" ||
				pf_fail "credential $name: no $PF_TMP/etc/credentials/${src##*/}"
			chmod 0400 "$creds/$name"
			;;
		esac
	done <"$unit"
	[[ -n $exec_start ]] || pf_fail "no ExecStart= in $unit"
	exec_start=${exec_start//\/usr\/bin\/parkfeedctl/$PF_CTL}
	exec_start=${exec_start//\/etc\/parkfeed\/parkfeed.conf/$conf}
	local -a cmd
	read -r -a cmd <<<"$exec_start"
	local -a as=()
	if (( EUID == 0 )); then
		[[ $dynamic == yes ]] || pf_fail "the maintenance unit runs as a fixed user, expected DynamicUser=yes"
		chown -R nobody: "$creds"
		chmod 0500 "$creds"
		as=("$PF_RUNUSER" -u nobody --)
	fi
	(cd / && "${as[@]}" env -i PATH=/usr/bin:/bin LANG=C.UTF-8 CREDENTIALS_DIRECTORY="$creds" \
		"${cmd[@]}" "$@")
}
