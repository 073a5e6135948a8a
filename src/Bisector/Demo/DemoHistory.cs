namespace Bisector.Demo;

/// <summary>One change to one file in a demo commit.</summary>
internal abstract record FileEdit(string Path)
{
    /// <summary>Returns the new content of <see cref="Path"/>, given its current content (null when it does not exist yet).</summary>
    public abstract string Apply(string? current);
}

internal sealed record PutFile(string Path, string Content) : FileEdit(Path)
{
    public override string Apply(string? current) => Content;
}

internal sealed record AppendToFile(string Path, string Text) : FileEdit(Path)
{
    public override string Apply(string? current) => (current ?? "") + Text;
}

/// <summary>Replaces a text that must occur exactly once, so a history edit can never silently miss its target.</summary>
internal sealed record ReplaceInFile(string Path, string Old, string New) : FileEdit(Path)
{
    public override string Apply(string? current)
    {
        if (current is null)
            throw new InvalidOperationException($"Demo history: {Path} does not exist when it is edited.");
        var first = current.IndexOf(Old, StringComparison.Ordinal);
        if (first < 0 || current.IndexOf(Old, first + 1, StringComparison.Ordinal) >= 0)
            throw new InvalidOperationException($"Demo history: the text to replace in {Path} must occur exactly once: {Old}");
        return string.Concat(current.AsSpan(0, first), New, current.AsSpan(first + Old.Length));
    }
}

internal sealed record Author(string Name, string Email);

/// <summary>What the generator does next: commit, switch or create a branch, merge, or tag.</summary>
internal abstract record HistoryAction;

internal sealed record CommitAction(string Subject, Author Author, IReadOnlyList<FileEdit> Edits, bool IsCulprit = false)
    : HistoryAction
{
    /// <summary>A known change after the culprit (<see cref="DemoScenario.TwoChanges"/>): not the answer, but a change
    /// the scan for further changes must find.</summary>
    public bool IsFurtherChange { get; init; }

    public bool TouchesStore => Edits.Any(e => e.Path.StartsWith(DemoHistory.StorePath, StringComparison.Ordinal));
}

internal sealed record BranchAction(string Branch, bool Create) : HistoryAction;

internal sealed record MergeAction(string Branch, string Subject, Author Author) : HistoryAction;

internal sealed record TagAction(string Tag) : HistoryAction;

/// <summary>
/// The scripted history of the demo daemon: a few commits up to <c>v1.0</c>, then about forty commits up to <c>v1.1</c>
/// (one merged topic branch among them), of which ten touch <c>src/store/</c>: nine harmless ones and the scenario's culprit.
/// Only the culprit changes memory behaviour; the workload client never changes, so every build sees the same load.
/// </summary>
internal static class DemoHistory
{
    public const string StorePath = "src/store/";
    public const string Pathspec = "src/store/*";
    public const string GoodTag = "v1.0";
    public const string BadTag = "v1.1";
    public const string MainBranch = "main";

    private static readonly Author Ada = new("Ada Okafor", "ada.okafor@example.org");
    private static readonly Author Bram = new("Bram Visser", "bram@visser.example.net");
    private static readonly Author Chen = new("Chen Wei", "chen.wei@example.com");
    private static readonly Author Dana = new("Dana Ruiz", "druiz@example.org");

    public static IReadOnlyList<HistoryAction> For(DemoScenario scenario)
    {
        var actions = new List<HistoryAction>();
        void Commit(string subject, Author author, params FileEdit[] edits) => actions.Add(new CommitAction(subject, author, edits));
        void Culprit(DemoScenario only, string subject, Author author, params FileEdit[] edits)
        {
            if (scenario == only)
                actions.Add(new CommitAction(subject, author, edits, IsCulprit: true));
        }

        // Up to v1.0: the known-good release.
        Commit("Initial import of demod and demo-client", Ada,
            [.. DemoAssets.InitialFiles.Select(p => new PutFile(p, DemoAssets.Read(p)))]);
        Commit("Add README with build and usage instructions", Ada, new PutFile("README.md", DemoAssets.Read("README.md")));
        Commit("Ignore build outputs", Bram, new PutFile(".gitignore", "/demod\n/demo-client\n*.o\n"));
        // In the fix scenario the fragmenting reader is already in the good release; the known commit takes it out.
        if (scenario == DemoScenario.Fix)
            Commit(SingleReadSubject, Chen, [.. SingleRead]);
        actions.Add(new TagAction(GoodTag));

        // v1.0..v1.1
        Commit("docs: describe the request protocol", Ada, new PutFile("docs/protocol.md", Docs.Protocol));
        Commit("daemon: print the version at startup", Bram,
            new ReplaceInFile(MainC, "#define CATALOG_SIZE (6u << 20)\n", "#define CATALOG_SIZE (6u << 20)\n#define DEMOD_VERSION \"1.1-dev\"\n"),
            new ReplaceInFile(MainC, "\"demod: listening on %s\\n\"", "\"demod \" DEMOD_VERSION \": listening on %s\\n\""));
        Commit("store/reader: retry read() on EINTR", Chen,
            new ReplaceInFile(ReaderC, "                if (k < 0) {\n", "                if (k < 0 && errno == EINTR)\n                        continue;\n                if (k < 0) {\n"));
        Commit("Makefile: add an install target", Dana,
            new ReplaceInFile(Makefile, "clean:\n", "PREFIX ?= /usr/local\n\ninstall: all\n\tinstall -D -m 0755 demod $(DESTDIR)$(PREFIX)/sbin/demod\n\tinstall -D -m 0755 demo-client $(DESTDIR)$(PREFIX)/bin/demo-client\n\nclean:\n"),
            new ReplaceInFile(Makefile, ".PHONY: all clean", ".PHONY: all clean install"));
        Commit("README: mention how the client paces its requests", Ada,
            new AppendToFile("README.md", "\nThe client sends its requests in batches of 20 every 10 ms and never changes the id sequence, so runs are comparable.\n"));
        Commit("store/cache: explain why the cache is bounded", Chen,
            new ReplaceInFile(CacheC, "/* A fixed number of slots, one per client id: an entry is freed when its slot is refreshed, so the cache is bounded. */",
                "/* A fixed number of slots, one per client id: an entry is freed when its slot is refreshed, so the cache is bounded\n * and memory stays flat no matter how many clinets come and go. */"));
        Commit("daemon: clear the cache on SIGHUP", Bram,
            new ReplaceInFile(MainC, "static volatile sig_atomic_t stopping;\n", "static volatile sig_atomic_t stopping;\nstatic volatile sig_atomic_t clear_requested;\n"),
            new ReplaceInFile(MainC, "static uint64_t now_ns(void) {", "static void on_hup(int sig) {\n        (void) sig;\n        clear_requested = 1;\n}\n\nstatic uint64_t now_ns(void) {"),
            new ReplaceInFile(MainC, "        cache_entry *e = cache_refresh(id, pid, now_ns());\n", "        if (clear_requested) {\n                cache_clear();\n                clear_requested = 0;\n        }\n        cache_entry *e = cache_refresh(id, pid, now_ns());\n"),
            new ReplaceInFile(MainC, "        sigaction(SIGINT, &sa, NULL);\n", "        sigaction(SIGINT, &sa, NULL);\n        struct sigaction hup = { .sa_handler = on_hup };\n        sigaction(SIGHUP, &hup, NULL);\n"));
        Commit("contrib: add a systemd unit for demod", Dana, new PutFile("contrib/demod.service", Docs.Unit));
        Commit("Add a CHANGELOG", Ada, new PutFile("CHANGELOG.md", "# Changelog\n\n## Unreleased\n\n- Print the version at startup.\n- Clear the cache on SIGHUP.\n"));
        Commit("store/cache: count refreshes", Chen,
            new ReplaceInFile(CacheC, "static cache_entry *slots[CACHE_SLOTS];\n", "static cache_entry *slots[CACHE_SLOTS];\nstatic unsigned long long refreshes;\n"),
            new ReplaceInFile(CacheC, "        snprintf(path, sizeof(path), \"/proc/%d/stat\", peer_pid);\n", "        refreshes++;\n        snprintf(path, sizeof(path), \"/proc/%d/stat\", peer_pid);\n"),
            new AppendToFile(CacheC, "\nunsigned long long cache_refreshes(void) {\n        return refreshes;\n}\n"),
            new AppendToFile(CacheH, "unsigned long long cache_refreshes(void);\n"));
        Commit("daemon: report cache statistics on SIGUSR1", Bram,
            new ReplaceInFile(MainC, "static volatile sig_atomic_t stopping;\n", "static volatile sig_atomic_t stopping;\nstatic volatile sig_atomic_t stats_requested;\n"),
            new ReplaceInFile(MainC, "static uint64_t now_ns(void) {", "static void on_usr1(int sig) {\n        (void) sig;\n        stats_requested = 1;\n}\n\nstatic uint64_t now_ns(void) {"),
            new ReplaceInFile(MainC, "        requests++;\n", "        requests++;\n        if (stats_requested) {\n                fprintf(stderr, \"demod: %zu cached clients, %llu refreshes\\n\", cache_count(), cache_refreshes());\n                stats_requested = 0;\n        }\n"),
            new ReplaceInFile(MainC, "        sigaction(SIGINT, &sa, NULL);\n", "        sigaction(SIGINT, &sa, NULL);\n        struct sigaction usr1 = { .sa_handler = on_usr1 };\n        sigaction(SIGUSR1, &usr1, NULL);\n"));

        // A topic branch merged back with --no-ff, so the range is not linear. Main does not touch src/store while it is open.
        actions.Add(new BranchAction("status-request", Create: true));
        Commit("daemon: answer a \"status\" request", Dana,
            new ReplaceInFile(MainC, "                        *nl = 0;\n                        handle(conn, pid, (unsigned) strtoul(start, NULL, 10));\n",
                "                        *nl = 0;\n                        if (strcmp(start, \"status\") == 0)\n                                write_status(conn);\n                        else\n                                handle(conn, pid, (unsigned) strtoul(start, NULL, 10));\n"),
            new ReplaceInFile(MainC, "static void serve(int conn) {", "static void write_status(int fd) {\n        char line[128];\n        int n = snprintf(line, sizeof(line), \"status %llu requests %zu clients %zu bytes\\n\", requests, cache_count(), cache_bytes());\n        if (n > 0 && write(fd, line, (size_t) n) < 0 && errno != EPIPE)\n                perror(\"write\");\n}\n\nstatic void serve(int conn) {"));
        Commit("store/cache: report the bytes held by cached entries", Dana,
            new AppendToFile(CacheC, "\nsize_t cache_bytes(void) {\n        size_t n = 0;\n        for (unsigned i = 0; i < CACHE_SLOTS; i++)\n                if (slots[i])\n                        n += slots[i]->stat_size + LABEL_MAX;\n        return n;\n}\n"),
            new AppendToFile(CacheH, "size_t cache_bytes(void);\n"));
        Commit("docs: document the status request", Dana,
            new AppendToFile("docs/protocol.md", "\n## status\n\nThe line `status` is answered with `status <requests> requests <clients> clients <bytes> bytes`.\n"));
        actions.Add(new BranchAction(MainBranch, Create: false));
        Commit("tests: add a smoke test script", Ada, new PutFile("tests/smoke.sh", Docs.Smoke));
        Commit("README: fix the socket path in the usage example", Bram,
            new ReplaceInFile("README.md", "    ./demo-client /tmp/demod.sock\n", "    ./demo-client /tmp/demod.sock   # Ctrl+C to stop\n"));
        actions.Add(new MergeAction("status-request", "Merge branch 'status-request'", Ada));

        Commit("CHANGELOG: note the status request", Dana,
            new AppendToFile("CHANGELOG.md", "- Answer a `status` request with counters.\n"));
        Commit("store/reader: open files with O_NOCTTY", Chen,
            new ReplaceInFile(ReaderC, "O_RDONLY | O_CLOEXEC", "O_RDONLY | O_CLOEXEC | O_NOCTTY"));
        Commit("daemon: make the listen backlog configurable", Bram,
            new ReplaceInFile(MainC, "listen(s, 16) < 0", "listen(s, getenv(\"DEMOD_BACKLOG\") ? atoi(getenv(\"DEMOD_BACKLOG\")) : 16) < 0"));
        Commit("store: add a README for the store module", Chen, new PutFile("src/store/README.md", Docs.StoreReadme));
        Commit("docs: explain how the cache is sized", Ada, new PutFile("docs/cache.md", Docs.Cache));

        Culprit(DemoScenario.Leak, LeakSubject, Chen, [.. LeakEdits]);
        // Two changes: the level step comes first (the answer), the leak later (see below).
        Culprit(DemoScenario.TwoChanges, StaticTableSubject, Chen, [.. StaticTableEdits]);

        Commit("tests: check the status reply in the smoke test", Ada,
            new AppendToFile("tests/smoke.sh", "printf 'status\\n' | timeout 2 socat - UNIX-CONNECT:\"$sock\" | grep -q '^status '\necho ok\n"));
        Commit("daemon: print a progress line every million requests", Bram,
            new ReplaceInFile(MainC, "        requests++;\n", "        requests++;\n        if (requests % 1000000 == 0)\n                fprintf(stderr, \"demod: %llu requests\\n\", requests);\n"));
        Commit("store/reader: document the error convention", Chen,
            new ReplaceInFile(ReaderH, " * NUL-terminated buffer in *ret (the caller frees it) and its length in *ret_size. */",
                " * NUL-terminated buffer in *ret (the caller frees it) and its length in *ret_size. On failure returns a negative\n * errno-style code and leaves *ret untouched. */"));
        Commit("contrib: harden the systemd unit", Dana,
            new ReplaceInFile("contrib/demod.service", "[Install]", "ProtectSystem=strict\nProtectHome=yes\nPrivateTmp=yes\n\n[Install]"));

        // The seed bug (see SingleRead), or in the fix scenario its undoing.
        Culprit(DemoScenario.Fragmentation, SingleReadSubject, Chen, [.. SingleRead]);
        Culprit(DemoScenario.Fix, "store/reader: read virtual files in 4 KiB steps again", Chen,
            [.. SingleRead.Select(e => new ReplaceInFile(e.Path, e.New, e.Old))]);

        Commit("Makefile: pass LDFLAGS to the linker", Dana,
            new ReplaceInFile(Makefile, "-Isrc -o $@ $(DAEMON_SRC)", "-Isrc -o $@ $(DAEMON_SRC) $(LDFLAGS)"),
            new ReplaceInFile(Makefile, "$(CC) $(CFLAGS) -o $@ $<", "$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)"));
        Commit("README: link to the protocol and cache documents", Ada,
            new AppendToFile("README.md", "\nSee [docs/protocol.md](docs/protocol.md) and [docs/cache.md](docs/cache.md).\n"));
        Commit("store/cache: allow overriding the number of slots at build time", Chen,
            new ReplaceInFile(CacheH, "#define CACHE_SLOTS 1024\n", "#ifndef CACHE_SLOTS\n#define CACHE_SLOTS 1024\n#endif\n"));
        Commit("daemon: log the peer pid when a client connects", Bram,
            new ReplaceInFile(MainC, "        int pid = peer_pid(conn);\n", "        int pid = peer_pid(conn);\n        fprintf(stderr, \"demod: client pid %d connected\\n\", pid);\n"));
        Commit("tests: make the smoke test clean up on failure", Ada,
            new ReplaceInFile("tests/smoke.sh", "sock=\"$dir/demod.sock\"\n", "sock=\"$dir/demod.sock\"\ntrap 'kill $pid 2>/dev/null; rm -rf \"$dir\"' EXIT\n"));

        Culprit(DemoScenario.StaticTable, StaticTableSubject, Chen, [.. StaticTableEdits]);
        if (scenario == DemoScenario.TwoChanges)
            actions.Add(new CommitAction(LeakSubject, Chen, LeakEdits) { IsFurtherChange = true });

        Commit("docs: add a troubleshooting section", Dana,
            new AppendToFile("docs/cache.md", "\n## Troubleshooting\n\nSend SIGUSR1 to print the number of cached clients; SIGHUP empties the cache.\n"));
        Commit("daemon: note how non-numeric request lines are handled", Bram,
            new ReplaceInFile(MainC, "                                handle(conn, pid, (unsigned) strtoul(start, NULL, 10));\n",
                "                                handle(conn, pid, (unsigned) strtoul(start, NULL, 10)); /* non-numbers map to client 0 */\n"));
        Commit("store/cache: fix a typo in a comment", Ada, new ReplaceInFile(CacheC, "clinets", "clients"));
        Commit("contrib: add a logrotate snippet", Dana, new PutFile("contrib/demod.logrotate", "/var/log/demod.log {\n    weekly\n    rotate 4\n    compress\n    missingok\n}\n"));
        Commit("CHANGELOG: prepare 1.1", Ada,
            new ReplaceInFile("CHANGELOG.md", "## Unreleased\n", "## 1.1\n"));
        Commit("daemon: use a static buffer size for request lines", Bram,
            new ReplaceInFile(MainC, "        char buf[4096];\n", "        char buf[4096]; /* request lines are a few bytes; 4 KiB holds many pipelined ones */\n"));
        Commit("docs: describe the client's id sequence", Ada,
            new AppendToFile("docs/protocol.md", "\n## Workload\n\n`demo-client` draws ids from a fixed-seed generator, so every run sends the same sequence.\n"));
        Commit("Release 1.1", Ada,
            new ReplaceInFile(MainC, "#define DEMOD_VERSION \"1.1-dev\"", "#define DEMOD_VERSION \"1.1\""));
        actions.Add(new TagAction(BadTag));
        return actions;
    }

    private const string SingleReadSubject = "store/reader: read virtual files with a single read()";

    private const string LeakSubject = "store/cache: refresh a returning client's entry in place";

    // The in-place path replaces the label without freeing the old one: every repeat request leaks LABEL_MAX bytes.
    private static readonly FileEdit[] LeakEdits =
    [
        new ReplaceInFile(CacheC, "        cache_entry *e = calloc(1, sizeof(*e));\n",
            "        /* The same client asks again: refresh its entry in place instead of reallocating it. */\n" +
            "        cache_entry *old = slots[id % CACHE_SLOTS];\n" +
            "        if (old && old->id == id) {\n" +
            "                free(old->stat);\n" +
            "                old->stat = stat;\n" +
            "                old->stat_size = stat_size;\n" +
            "                old->refreshed_ns = now_ns;\n" +
            "                old->label = label_new(id, stat);\n" +
            "                return old;\n" +
            "        }\n\n" +
            "        cache_entry *e = calloc(1, sizeof(*e));\n"),
    ];

    private const string StaticTableSubject = "store/cache: precompute per-slot latency bucket bounds";

    // 1024 slots x 2048 buckets x 8 bytes = 16 MiB of .bss, all written at startup: a level step, no growth.
    private static readonly FileEdit[] StaticTableEdits =
    [
        new ReplaceInFile(CacheC, "static cache_entry *slots[CACHE_SLOTS];\n",
            "static cache_entry *slots[CACHE_SLOTS];\n\n" +
            "/* Upper bound (ns) of each latency bucket, per slot, so status output can show per-client histograms. */\n" +
            "#define LATENCY_BUCKETS 2048\n" +
            "static double latency_bounds[CACHE_SLOTS][LATENCY_BUCKETS];\n"),
        new ReplaceInFile(CacheC, "        memset(slots, 0, sizeof(slots));\n",
            "        memset(slots, 0, sizeof(slots));\n" +
            "        for (unsigned s = 0; s < CACHE_SLOTS; s++)\n" +
            "                for (unsigned b = 0; b < LATENCY_BUCKETS; b++)\n" +
            "                        latency_bounds[s][b] = 1000.0 * (b + 1) * (1.0 + s / (double) CACHE_SLOTS);\n"),
        new AppendToFile(CacheC, "\ndouble cache_latency_bound(unsigned slot, unsigned bucket) {\n        return latency_bounds[slot % CACHE_SLOTS][bucket % LATENCY_BUCKETS];\n}\n"),
        new AppendToFile(CacheH, "double cache_latency_bound(unsigned slot, unsigned bucket);\n"),
    ];

    // The seed bug: 2ac67221bb in systemd ("basic/fileio: fix reading of not-too-small virtual files"). Why it grows:
    // demod's startup catalog buffer (6 MiB) was mmap()ed and freed, which raised glibc's dynamic mmap threshold to
    // 6 MiB, so malloc(4 MiB) is now served from the brk heap at its top. realloc() shrinks it in place to ~300 bytes
    // and hands the rest back; the next request's small allocations (reply, log line, label) land right behind the
    // kept entry, so the next 4 MiB no longer fits there and the heap is extended again. Cached entries and log lines
    // end up strewn across an ever larger heap whose free gaps stay resident (only the top can be trimmed): RssAnon
    // climbs by tens of MB per minute with nothing leaked, until the bounded cache's turnover lets holes coalesce.
    // Undone edit by edit, the same change is the fix scenario's known commit.
    private static readonly ReplaceInFile[] SingleRead =
    [
        new(ReaderC, "#define READ_CHUNK 4096\n\n/* Virtual files do not report their size, so read until EOF, growing the buffer as needed. */",
            "/* Large enough for any /proc file we read, so one read() normally suffices and we never reallocate while reading. */\n" +
            "#define READ_CHUNK (4u << 20)\n\n" +
            "/* Virtual files do not report their size, so read until EOF, growing the buffer if it is ever needed. */"),
        new(ReaderC, "        buf[n] = 0;\n        *ret = buf;\n",
            "        buf[n] = 0;\n\n        /* Give back what the read did not use. */\n        char *shrunk = realloc(buf, n + 1);\n        if (shrunk)\n                buf = shrunk;\n        *ret = buf;\n"),
    ];

    private const string MainC = "src/daemon/main.c";
    private const string ReaderC = "src/store/reader.c";
    private const string ReaderH = "src/store/reader.h";
    private const string CacheC = "src/store/cache.c";
    private const string CacheH = "src/store/cache.h";
    private const string Makefile = "Makefile";

    private static class Docs
    {
        public const string Protocol = "# Protocol\n\ndemod listens on a unix stream socket. Each request is a decimal client id and a newline;\n" +
            "the reply is one line: `<id> client-<id> (<comm>) <bytes of /proc/PID/stat>`.\n";
        public const string Unit = "[Unit]\nDescription=demo daemon\n\n[Service]\nExecStart=/usr/local/sbin/demod /run/demod.sock\nRestart=on-failure\n\n[Install]\nWantedBy=multi-user.target\n";
        public const string Smoke = "#!/bin/sh\n# Starts demod, sends a few requests, stops it.\nset -eu\ndir=$(mktemp -d)\nsock=\"$dir/demod.sock\"\n" +
            "./demod \"$sock\" & pid=$!\nwhile [ ! -S \"$sock\" ]; do sleep 0.05; done\n./demo-client \"$sock\" 1000\nkill $pid\n";
        public const string StoreReadme = "# store\n\n`reader.c` reads small virtual files completely; `cache.c` keeps one entry per client id.\n" +
            "Entries are replaced, never accumulated, so the cache's memory is bounded by CACHE_SLOTS.\n";
        public const string Cache = "# Cache sizing\n\nThe cache has CACHE_SLOTS (1024) slots. Each holds the last `/proc/PID/stat` read for one client id\n" +
            "and a LABEL_MAX-byte label, so a full cache holds well under 1 MiB of data.\n";
    }
}
