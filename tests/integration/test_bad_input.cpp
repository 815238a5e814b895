// test_bad_input.cpp: every flag given bad values on the command line, in its ECHO_* variable and in a config
// file exits 2 with one line naming it and the value (R9); addresses that cannot be bound exit 1 with one
// line and leave no worker behind.
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

#include "fixture.hpp"

using namespace test;

namespace {

// Every flag the server accepts. The first test case holds this table against --help, both ways, so a flag
// cannot be added without rows here.
struct Flag {
    std::string name;  // without the dashes; also the config file key
    std::string env;
    bool takes_value;  // false for a switch
    // Invalid or out of range for this flag in particular; the first is a typical one.
    std::vector<std::string> bad;
};

const std::vector<Flag>& flags() {
    static const std::vector<Flag> table = {
        {"listen",
         "ECHO_LISTEN",
         true,
         {"localhost:7007" /* a name, not a literal */, "127.0.0.1:65536", "/run/echo.sock" /* a path */,
          "unix:/run/echo.sock", "127.0.0.1:-1", "256.0.0.1:7007", "[::1", "::1:7007",
          "127.0.0.1:", "127.0.0.1:7007,"}},
        {"proxy-listen",
         "ECHO_PROXY_LISTEN",
         true,
         {"127.0.0.1:65536", "[::1", "localhost:7008", "127.0.0.1:7008,"}},
        {"proxy-protocol", "ECHO_PROXY_PROTOCOL", false, {"maybe", "2"}},
        {"proxy-timeout", "ECHO_PROXY_TIMEOUT", true, {"3601", "-1s", "soon"}},
        {"workers", "ECHO_WORKERS", true, {"0", "1025", "4294967297", "abc"}},
        {"max-connections", "ECHO_MAX_CONNECTIONS", true, {"0", "1000001"}},
        {"idle-timeout", "ECHO_IDLE_TIMEOUT", true, {"604801", "7d", "inf", "nan", "-0"}},
        {"drain-timeout", "ECHO_DRAIN_TIMEOUT", true, {"3601", "-5s", "1e300"}},
        {"leave-delay", "ECHO_LEAVE_DELAY", true, {"601", "-1s", "forever"}},
        {"worker-timeout", "ECHO_WORKER_TIMEOUT", true, {"3601", "2h"}},
        {"fd-store", "ECHO_FD_STORE", true, {"-1", "16777217", "many"}},
        {"buffer-size",
         "ECHO_BUFFER_SIZE",
         true,
         {"0", "1023", "16777217", "17M", "1T", "65536iB", "1.5K", "64KB"}},
        {"log-level", "ECHO_LOG_LEVEL", true, {"chatty", "warning,debug"}},
        {"config", "ECHO_CONFIG", true, {"/nonexistent/echo.conf", "/" /* a directory */, "/dev/zero"}},
        {"zombie-mode", "ECHO_ZOMBIE_MODE", false, {"maybe", "2"}},
        {"zombie-worker-lifetime", "ECHO_ZOMBIE_WORKER_LIFETIME", true, {"86401"}},
        {"metrics-listen",
         "ECHO_METRICS_LISTEN",
         true,
         {"localhost:9707", "127.0.0.1:65536", "127.0.0.1", "127.0.0.1:9707,127.0.0.1:9708", "[::1"}},
        {"seccomp", "ECHO_SECCOMP", true, {"strict", "enforce,log"}},
        // Shapes no user could have; a well-formed name that does not exist is test_privileges.cpp's.
        {"user", "ECHO_USER", true, {"nobody:nogroup", "1000", "a/b", "-nobody", std::string(33, 'a')}},
        {"group", "ECHO_GROUP", true, {"nogroup,adm", "65534", "a b", ".hidden"}},
    };
    return table;
}

// The kernel caps each argv and environment string at 128 KiB (MAX_ARG_STRLEN), so those get 100 KiB; a
// config file line gets a whole MiB.
const std::string kHugeArg(100 * 1024, '9');
const std::string kHugeLine(1024 * 1024, '9');
const std::string kNewline = "1\n2";     // would split a message that echoed it raw
const std::string kNul{'1', '\0', '2'};  // would cut it short; only a file can hold a NUL

// The kinds of bad input, a test case each.
enum class Kind { Invalid, Empty, Missing, Huge, Garbage, Control };

// How a value reaches the server.
enum class Via {
    Equals,        // --flag=VALUE
    Separate,      // --flag VALUE; for a switch VALUE is a stray argument, and the message must say so
    LastArgument,  // --flag at the end, its value missing
    Environment,   // ECHO_FLAG=VALUE
    ConfigFile,    // a config file line "flag = VALUE"
    KeyOnly,       // a config file line "flag", without "= VALUE"
};

struct Row {
    const Flag* flag;
    Via via;
    std::string value;
};

// Text fit for a test's report: quoted, control characters escaped, cut after `limit` bytes.
std::string shown(const std::string& value, std::size_t limit = 24) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (char c : value.substr(0, limit)) {
        auto u = static_cast<unsigned char>(c);
        out += u < 0x20 ? std::string{'\\', 'x', kHex[u >> 4], kHex[u & 0xf]} : std::string(1, c);
    }
    if (value.size() > limit) out += "...(" + std::to_string(value.size()) + " bytes)";
    return "'" + out + "'";
}

std::string label(const Row& row) {
    const auto& name = row.flag->name;
    switch (row.via) {
        case Via::Equals:
            return "--" + name + "=" + shown(row.value);
        case Via::Separate:
            return "--" + name + " " + shown(row.value);
        case Via::LastArgument:
            return "--" + name + " as the last argument, without its value";
        case Via::Environment:
            return row.flag->env + "=" + shown(row.value);
        case Via::ConfigFile:
            return "config file line: " + name + " = " + shown(row.value);
        case Via::KeyOnly:
            return "config file line: " + name + " (no '= value')";
    }
    return {};
}

// The word the message must contain: the flag, the variable or the config file key.
std::string source(const Row& row) {
    if (row.via == Via::Environment) return row.flag->env;
    if (row.via == Via::ConfigFile || row.via == Via::KeyOnly) return row.flag->name;
    return "--" + row.flag->name;
}

// The rows of one kind, for every flag in the table. Every value reaches the server as --flag=VALUE; the
// other ways in get the values whose framing differs there and the typical bad value, since one parser
// serves the command line, the environment and the config file alike.
std::vector<Row> rows(Kind kind) {
    std::vector<Row> out;
    for (const auto& flag : flags()) {
        auto add = [&](Via via, const std::vector<std::string>& values) {
            for (const auto& v : values)
                out.push_back({&flag, via, v});
        };
        bool file = flag.name != "config";  // a config file cannot name another one
        switch (kind) {
            case Kind::Invalid: {
                std::vector<std::string> all = {"-1"};
                all.insert(all.end(), flag.bad.begin(), flag.bad.end());
                add(Via::Equals, all);
                add(Via::Separate, {"-1"});  // the value, not a flag
                add(Via::Environment, {flag.bad[0]});
                if (file) add(Via::ConfigFile, {flag.bad[0]});
                break;
            }
            case Kind::Empty:
                add(Via::Equals, {""});
                add(Via::Separate, {""});
                add(Via::Environment, {""});  // systemd's Environment=ECHO_WORKERS= sets it, empty
                if (file) add(Via::ConfigFile, {""});
                break;
            case Kind::Missing:
                if (flag.takes_value) add(Via::LastArgument, {""});  // a switch needs none
                if (file) add(Via::KeyOnly, {""});
                break;
            case Kind::Huge:
                add(Via::Equals, {"99999999999999999999999", kHugeArg});
                add(Via::Environment, {kHugeArg});
                if (file) add(Via::ConfigFile, {kHugeLine});
                break;
            case Kind::Garbage:  // a config file trims spaces, so " 5" is not garbage there: not in this kind
                add(Via::Equals, {"10xyz", "1e3", " 5", "0x10", "+5"});
                break;
            case Kind::Control:
                add(Via::Equals, {kNewline});
                add(Via::Environment, {kNewline});
                if (file) add(Via::ConfigFile, {kNul});
                break;
        }
    }
    return out;
}

// A directory of the test's own for config files, removed with what it holds.
class TempDir {
  public:
    TempDir() {
        char tmpl[] = "/tmp/echo-bad-input-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path_ = tmpl;
    }
    ~TempDir() {
        for (const auto& f : files_)
            unlink(f.c_str());
        rmdir(path_.c_str());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string write(const std::string& name, const std::string& content) {
        auto file = path_ + "/" + name;
        std::ofstream(file, std::ios::binary | std::ios::trunc) << content;
        if (std::find(files_.begin(), files_.end(), file) == files_.end()) files_.push_back(file);
        return file;
    }

  private:
    std::string path_;
    std::vector<std::string> files_;
};

// An environment variable every server a test case starts inherits, and passes on to anything it forks: after
// the servers have exited, no process may still carry it, wherever it was reparented.
class Marker {
  public:
    explicit Marker(const char* test) : value_(std::string(test) + "-" + std::to_string(getpid())) {}
    std::pair<std::string, std::string> variable() const { return {"BAD_INPUT_TEST_MARKER", value_}; }

    std::vector<pid_t> carriers() const {
        std::vector<pid_t> out;
        auto needle = variable().first + "=" + value_;
        for (pid_t pid : all_pids()) {
            std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
            for (std::string var; std::getline(in, var, '\0');)
                if (var == needle) out.push_back(pid);
        }
        return out;
    }

  private:
    std::string value_;
};

// Not root, and no other test's (fixture.hpp lists theirs): binding below ip_unprivileged_port_start fails.
constexpr uid_t kUidUnprivileged = 64010;

// Should a bad value ever be accepted, the server fails at once on an address no host here has (exit 1,
// which the row reports) rather than serving on the default port until the timeout.
const std::pair<std::string, std::string> kSafetyNet = {"ECHO_LISTEN", "192.0.2.1:7007"};

RunResult run(const Row& row, const Marker& marker, TempDir& dir) {
    std::vector<std::pair<std::string, std::string>> env = {marker.variable()};
    if (row.flag->name != "listen") env.push_back(kSafetyNet);
    const auto flag = "--" + row.flag->name;
    switch (row.via) {
        case Via::Equals:
            return run_to_exit({flag + "=" + row.value}, env, 5s);
        case Via::Separate:
            return run_to_exit({flag, row.value}, env, 5s);
        case Via::LastArgument:
            return run_to_exit({flag}, env, 5s);
        case Via::Environment:
            env.emplace_back(row.flag->env, row.value);
            return run_to_exit({}, env, 5s);
        case Via::ConfigFile:
            return run_to_exit(
                {"--config", dir.write("echo.conf", row.flag->name + " = " + row.value + "\n")}, env, 5s);
        case Via::KeyOnly:
            return run_to_exit({"--config", dir.write("echo.conf", row.flag->name + "\n")}, env, 5s);
    }
    return {};
}

// The children of `pid` that fork() made. In a sanitizer build the leak check at exit runs in a child that
// clone() makes without an exit signal (LeakSanitizer's tracer, which the process waits for), no worker.
std::vector<pid_t> forked_children(pid_t pid) {
    auto children = children_of(pid);
    std::erase_if(children, [](pid_t child) { return exit_signal(child) != SIGCHLD; });
    return children;
}

// `word` in `text` as a whole word: "--worker-timeout" does not count as "--workers".
bool names(const std::string& text, const std::string& word) {
    auto part_of_name = [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    };
    for (auto at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) {
        bool starts = at == 0 || !part_of_name(text[at - 1]);
        bool ends = at + word.size() == text.size() || !part_of_name(text[at + word.size()]);
        if (starts && ends) return true;
    }
    return false;
}

// The value as the message must show it: quoted, whole when short and plain; when huge or holding a control
// character (which the server escapes), at least its start.
bool shows(const std::string& text, const std::string& value) {
    auto plain = value.substr(0, std::min(value.find_first_of(std::string("\n\0", 2)), std::size_t{32}));
    if (plain.size() == value.size()) return text.find("'" + value + "'") != std::string::npos;
    return text.find("'" + plain) != std::string::npos;
}

std::size_t count_lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

// The contract of R9 for one bad input: exit 2, nothing on stdout, one short line on stderr that says what
// was wrong; never a crash or a hang.
void check_usage_error(const RunResult& r, const std::string& source_word, const std::string* value) {
    INFO("stderr: " << shown(r.err, 300));
    CHECK_MESSAGE((r.exit_code >= 0 && r.exit_code < 128), "crashed or hung: " << r.exit_code);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(count_lines(r.err) == 1);
    CHECK(r.err.ends_with('\n'));
    CHECK(r.err.starts_with("echo-hardened: "));
    CHECK(r.err.size() < 512);  // a huge value is abbreviated, not echoed whole
    auto line = r.err.substr(0, r.err.find('\n'));
    CHECK(
        std::none_of(line.begin(), line.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
    CHECK_MESSAGE(names(r.err, source_word), "the message does not name " << source_word);
    if (value != nullptr) CHECK_MESSAGE(shows(r.err, *value), "the message does not show the value");
}

void check_rows(Kind kind, const char* test) {
    Marker marker(test);
    TempDir dir;
    for (const auto& row : rows(kind)) {
        INFO(label(row));
        auto r = run(row, marker, dir);
        if (row.via == Via::LastArgument) {
            check_usage_error(r, source(row), nullptr);
            CHECK(r.err.find("needs a value") != std::string::npos);
        } else if (row.via == Via::KeyOnly) {
            check_usage_error(r, source(row), nullptr);
            CHECK(r.err.find("expected 'name = value'") != std::string::npos);
        } else {
            check_usage_error(r, source(row), &row.value);
        }
    }
    CHECK(marker.carriers().empty());
}

}  // namespace

TEST_CASE("bad input: the table has exactly the flags --help lists, with their variables") {
    auto help = run_to_exit({"--help"});
    REQUIRE(help.exit_code == 0);
    static const std::regex flag_line(R"(  --([a-z][a-z-]*)( [A-Z:]+)?  \[(ECHO_[A-Z_]+)\])");
    std::vector<std::string> listed;
    std::istringstream lines(help.out);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("  --") || line.starts_with("  --help")) continue;
        std::smatch m;
        REQUIRE_MESSAGE(std::regex_match(line, m, flag_line), "a flag line this test cannot read: " << line);
        listed.push_back(m[1]);
        INFO("--" << m[1].str() << " in --help");
        auto in_table = std::find_if(flags().begin(), flags().end(), [&](auto& f) { return f.name == m[1]; });
        REQUIRE_MESSAGE(in_table != flags().end(), "no rows for this flag in the table");
        CHECK(in_table->env == m[3].str());
        CHECK(in_table->takes_value == m[2].matched);
        CHECK(!in_table->bad.empty());
    }
    for (const auto& flag : flags())
        CHECK_MESSAGE(std::count(listed.begin(), listed.end(), flag.name) == 1,
                      "--" << flag.name << " is in the table but not in --help");
}

TEST_CASE("bad input: invalid and out-of-range values, every flag, exit 2 with one line naming them") {
    check_rows(Kind::Invalid, "invalid");
}

TEST_CASE("bad input: empty values, every flag, exit 2 with one line naming them") {
    check_rows(Kind::Empty, "empty");
}

TEST_CASE("bad input: a missing value, every flag, exits 2 with one line naming the flag") {
    check_rows(Kind::Missing, "missing");
}

TEST_CASE("bad input: huge values, every flag, exit 2 with one short line naming them, abbreviated") {
    check_rows(Kind::Huge, "huge");
}

TEST_CASE("bad input: garbage around a number, every flag, exits 2 with one line naming it") {
    check_rows(Kind::Garbage, "garbage");
}

TEST_CASE("bad input: control characters in a value, every flag, are escaped in one line, exit 2") {
    check_rows(Kind::Control, "control");
}

TEST_CASE("bad input: command lines and config files of the wrong shape exit 2 with one line") {
    Marker marker("shape");
    TempDir dir;
    struct Case {
        std::vector<std::string> args;
        std::string file;  // when not empty: the config file's content, passed with --config
        std::string names;
        std::string value;
    };
    const std::vector<Case> cases = {
        {{"--unknown-flag"}, {}, "--unknown-flag", "--unknown-flag"},
        {{"--Workers=2"}, {}, "--Workers", "--Workers"},
        {{"--workers2"}, {}, "--workers2", "--workers2"},
        {{"--"}, {}, "--", "--"},
        {{"--=5"}, {}, "--", "--"},
        {{"--" + kHugeArg}, {}, "unknown option", "--" + kHugeArg},
        {{"-w", "2"}, {}, "-w", "-w"},
        {{"positional"}, {}, "unexpected argument", "positional"},
        {{""}, {}, "unexpected argument", ""},
        {{"--workers", "2", "3"}, {}, "unexpected argument", "3"},
        {{"--zombie-mode", "no"}, {}, "--zombie-mode", "no"},
        {{}, "workers 2\n", "workers", "workers 2"},
        {{}, "[server]\n", "line 1", "[server]"},
        {{}, "workers = 2\nspeed = 11\n", "speed", "speed"},
        {{}, "config = /etc/echo.conf\n", "config", "config"},
        {{}, "= 5\n", "unknown setting", ""},
        {{}, kHugeLine + " = 1\n", "unknown setting", kHugeLine},
    };
    for (const auto& c : cases) {
        auto args = c.args;
        if (!c.file.empty()) args = {"--config", dir.write("echo.conf", c.file)};
        std::string what = c.file.empty() ? "args:" : "file: " + shown(c.file);
        for (const auto& a : c.args) {  // not `what += " " + shown(a)`: a false -Wrestrict in GCC 12 at -O3
            what += ' ';
            what += shown(a);
        }
        INFO(what);
        auto r = run_to_exit(args, {marker.variable(), kSafetyNet}, 5s);
        check_usage_error(r, c.names, &c.value);
    }
    CHECK(marker.carriers().empty());
}

TEST_CASE("unbindable addresses and a port in use: one clear line, exit 1, no worker left behind") {
    std::uint16_t held_port = 0;
    UniqueFd holder = listen_loopback(held_port);
    REQUIRE(holder.valid());
    const auto held = "127.0.0.1:" + std::to_string(held_port);
    // A port nobody listens on any more, given twice: the second bind finds it taken by the first. (Should
    // another process take it meanwhile, the first bind fails the same way.)
    std::uint16_t free_port = 0;
    REQUIRE(listen_loopback(free_port).valid());  // closed again at once
    const auto twice = "127.0.0.1:" + std::to_string(free_port);

    struct Case {
        std::vector<std::string> args;
        std::string message;
        bool unprivileged = false;  // as a user who may not bind ports below 1024
    };
    std::vector<Case> cases = {
        // 192.0.2.0/24 and 2001:db8::/32 are for documentation: never this host's, and nothing is sent.
        {{"--listen", "192.0.2.1:7007"}, "cannot bind 192.0.2.1:7007: Cannot assign requested address"},
        {{"--listen", "[2001:db8::1]:7007"}, "[2001:db8::1]:7007: "},  // EADDRNOTAVAIL, or no IPv6 at all
        {{"--listen", held}, "cannot bind " + held + ": Address already in use"},
        {{"--listen", "127.0.0.1:0", "--listen", held}, "cannot bind " + held + ": Address already in use"},
        {{"--listen", twice, "--listen", twice}, "cannot bind " + twice + ": Address already in use"},
    };
    std::ifstream unprivileged_start("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int first_unprivileged = 0;
    if (getuid() == 0 && unprivileged_start >> first_unprivileged && first_unprivileged > 1)
        cases.push_back({{"--listen", "127.0.0.1:1"}, "cannot bind 127.0.0.1:1: Permission denied", true});

    Marker marker("unbindable");
    for (auto& c : cases) {
        INFO(c.args.back());
        ServerOptions options;
        options.args = c.args;
        options.args.insert(options.args.end(), {"--workers", "2"});
        options.env = {marker.variable()};
        if (c.unprivileged) options.uid = kUidUnprivileged;
        ServerProcess server(options);
        // Until it exits, the server never has a child: it gives up before forking any worker.
        std::optional<int> status;
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!(status = server.wait_exit(10ms)) && std::chrono::steady_clock::now() < deadline)
            CHECK(forked_children(server.pid()).empty());
        REQUIRE(status);
        CHECK(WIFEXITED(*status));
        CHECK(WEXITSTATUS(*status) == 1);
        auto log = server.log();
        INFO("log: " << log);
        CHECK(count_lines(log) == 1);
        CHECK(log.find(" critical: ") != std::string::npos);
        CHECK(log.find(c.message) != std::string::npos);
    }
    CHECK(marker.carriers().empty());
}
