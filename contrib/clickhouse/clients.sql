-- Per-client verdicts from tlsready.connections (connections.sql), with
-- the rules of `tlsready tally` / `analyze --clients` (README: "Per-client
-- tally and verdicts"): one row per client x service x server name, the
-- columns and spelling of the clients CSV, worst verdict first.
--
-- Scope: Microsoft 365 connections only; set `0 AS all_servers` to 1 for
-- `--scope all`. The Microsoft 365 columns are those stored in the rows
-- (`tlsready tally` applies the endpoint data of its own run again).

WITH
    0 AS all_servers,
    rows AS
    (
        SELECT
            client_ip,
            client_helo,
            m365_service AS service,
            multiIf(sni != '', sni,
                    dns_name != '', dns_name,
                    length(cert_names) > 0 AND cert_names[1] != '', cert_names[1],
                    server_banner != '', server_banner,
                    server_ip) AS server_name,
            m365 = 'yes' AS in_scope,
            ts,
            last_ts,
            status IN ('plaintext', 'starttls_refused') AS plain,
            status IN ('no_server_hello', 'alert', 'truncated') AS failed,
            legacy_endpoint = 'yes' AS legacy_ep,
            ja4,
            ja3,
            m365_match,
            server_port,
            protocol,
            negotiated_version AS neg,
            -- Versions by age: SSL2 < SSL3 < TLS1.0 < 1.1 < 1.2 < 1.3 drafts < 1.3,
            -- unknown values (0xNNNN) lowest; ties by value.
            multiIf(neg = 'SSL2', 1, neg = 'SSL3', 2, neg = 'TLS1.0', 3, neg = 'TLS1.1', 4,
                    neg = 'TLS1.2', 5, startsWith(neg, 'TLS1.3-draft'), 6 + toUInt32OrZero(substring(neg, 13)),
                    neg = 'TLS1.3', 1000, 0) AS neg_rank,
            multiIf(neg = 'SSL2', 2, neg = 'SSL3', 768, neg = 'TLS1.0', 769, neg = 'TLS1.1', 770,
                    neg = 'TLS1.2', 771, neg = 'TLS1.3', 772,
                    startsWith(neg, 'TLS1.3-draft'), 32512 + toUInt32OrZero(substring(neg, 13)),
                    startsWith(neg, '0x'), toUInt32(reinterpretAsUInt16(reverse(unhex(substring(neg, 3))))), 0) AS neg_num,
            client_max_version AS offer,
            multiIf(offer = 'SSL2', 1, offer = 'SSL3', 2, offer = 'TLS1.0', 3, offer = 'TLS1.1', 4,
                    offer = 'TLS1.2', 5, startsWith(offer, 'TLS1.3-draft'), 6 + toUInt32OrZero(substring(offer, 13)),
                    offer = 'TLS1.3', 1000, 0) AS offer_rank,
            multiIf(offer = 'SSL2', 2, offer = 'SSL3', 768, offer = 'TLS1.0', 769, offer = 'TLS1.1', 770,
                    offer = 'TLS1.2', 771, offer = 'TLS1.3', 772,
                    startsWith(offer, 'TLS1.3-draft'), 32512 + toUInt32OrZero(substring(offer, 13)),
                    startsWith(offer, '0x'), toUInt32(reinterpretAsUInt16(reverse(unhex(substring(offer, 3))))), 0) AS offer_num,
            -- The row's offer is the numerically highest; it stands for the
            -- best by age, unless it is an unknown value above TLS 1.3 (then
            -- what else was offered is unknown).
            offer != '' AND NOT (offer_rank = 0 AND offer_num > 772) AS offer_known,
            neg != '' AS has_neg,
            (has_neg AND neg_rank < 5) OR (offer_known AND offer_rank < 5) AS below,
            has_neg AND neg_rank >= 5 AS neg_modern
        FROM tlsready.connections
    ),
    entries AS
    (
        SELECT
            client_ip, client_helo, service, server_name,
            count() AS connections,
            countIf(neg = 'SSL2') AS ssl2,
            countIf(neg = 'SSL3') AS ssl3,
            countIf(neg = 'TLS1.0') AS tls10,
            countIf(neg = 'TLS1.1') AS tls11,
            countIf(neg = 'TLS1.2') AS tls12,
            countIf(neg = 'TLS1.3') AS tls13,
            countIf(has_neg AND neg NOT IN ('SSL2', 'SSL3', 'TLS1.0', 'TLS1.1', 'TLS1.2', 'TLS1.3')) AS other_version,
            countIf(NOT has_neg) AS no_server_hello,
            countIf(plain) AS plaintext,
            countIf(legacy_ep) AS legacy_endpoint_connections,
            argMinIf(neg, (neg_rank, neg_num), has_neg) AS lowest_version,
            argMaxIf(neg, (neg_rank, neg_num), has_neg) AS highest_version,
            argMaxIf(offer, (offer_rank, offer_num), offer_known) AS client_max_offered,
            min(ts) AS first,
            max(last_ts) AS last,
            arrayStringConcat(arraySlice(arraySort(groupUniqArrayIf(ja4, ja4 != '')), 1, 8), ' ') AS ja4s,
            arrayStringConcat(arraySlice(arraySort(groupUniqArrayIf(ja3, ja3 != '')), 1, 8), ' ') AS ja3s,
            arrayStringConcat(arraySlice(arraySort(groupUniqArrayIf(m365_match, m365_match != '')), 1, 8), ' ') AS matches,
            -- The lowest 8 server ports, ascending.
            arrayStringConcat(arrayMap(p -> toString(p), arraySlice(arraySort(groupUniqArray(server_port)), 1, 8)), ' ') AS ports,
            -- Protocols in the order of the README's list.
            arrayStringConcat(arraySort(p -> indexOf(['tls', 'smtp-starttls', 'imap-starttls', 'pop3-starttls', 'smtp', 'imap', 'pop3'], p),
                                        groupUniqArray(protocol)), ' ') AS protos
        FROM rows
        WHERE in_scope OR all_servers
        GROUP BY client_ip, client_helo, service, server_name
    ),
    per_client AS
    (
        SELECT
            client_ip, client_helo, service,
            maxIf(offer_rank, offer_known) >= 5 OR countIf(neg_modern) > 0 AS offers_modern,
            countIf(offer_known) > 0 AS offer_seen,
            countIf(below) AS legacy_handshakes,
            countIf(offer_known OR has_neg) AS handshakes,
            -- Failed with nothing known of its versions (tally.rs: failed_unknown).
            countIf(offer = '' AND NOT has_neg AND failed) AS failed_unknown,
            countIf(plain) AS plain_sessions,
            countIf(legacy_ep) AS legacy_ep_uses,
            multiIf(
                NOT offers_modern AND (offer_seen OR plain_sessions > 0), 'will-break',
                NOT offers_modern AND (legacy_handshakes > 0 OR failed_unknown > 0), 'at-risk',
                NOT offers_modern, 'ready',
                -- Occasionally: at most one handshake below TLS 1.2, or at most 5 %.
                legacy_ep_uses > 0 OR plain_sessions > 0
                    OR NOT (legacy_handshakes <= 1 OR legacy_handshakes * 20 <= handshakes), 'at-risk',
                'ready') AS verdict
        FROM rows
        WHERE in_scope OR all_servers
        GROUP BY client_ip, client_helo, service
    )
SELECT
    e.client_ip AS client_ip,
    -- Spreadsheet-safe cells, as in the CSV.
    if(match(e.client_helo, '^[-=+@\t\r]'), concat('\'', e.client_helo), e.client_helo) AS client_helo,
    e.service AS service,
    if(match(e.server_name, '^[-=+@\t\r]'), concat('\'', e.server_name), e.server_name) AS server_name,
    p.verdict AS verdict,
    e.connections AS connections,
    e.ssl2 AS ssl2, e.ssl3 AS ssl3, e.tls10 AS tls10, e.tls11 AS tls11, e.tls12 AS tls12, e.tls13 AS tls13,
    e.other_version AS other_version,
    e.no_server_hello AS no_server_hello,
    e.plaintext AS plaintext,
    e.legacy_endpoint_connections AS legacy_endpoint_connections,
    e.lowest_version AS lowest_version,
    e.highest_version AS highest_version,
    e.client_max_offered AS client_max_offered,
    formatDateTime(e.first, '%Y-%m-%dT%H:%i:%S.%fZ') AS first_seen,
    formatDateTime(e.last, '%Y-%m-%dT%H:%i:%S.%fZ') AS last_seen,
    e.ja4s AS ja4,
    e.ja3s AS ja3,
    e.matches AS m365_match,
    e.ports AS server_ports,
    e.protos AS protocols
FROM entries AS e
INNER JOIN per_client AS p
    ON e.client_ip = p.client_ip AND e.client_helo = p.client_helo AND e.service = p.service
ORDER BY
    indexOf(['will-break', 'at-risk', 'ready'], verdict),
    isIPv4String(e.client_ip) DESC,
    toIPv6(e.client_ip),
    e.client_helo,
    e.service,
    e.server_name
