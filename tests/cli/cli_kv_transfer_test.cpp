// `praetor kv export` and `praetor kv import` against a running `praetor agent -dev` on
// 127.0.0.44 (the real-client tests' range, 127.0.0.40-49): Consul's JSON layout, round trips
// of unicode keys, flags and binary values, -prefix, and malformed input refused whole.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

constexpr const char* kAddress = "127.0.0.44";
const std::string kHttpAddr = "-http-addr=127.0.0.44:8500";

class KvTransferTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tmp_ = new TempDir();
    const std::string log_path = tmp_->path() + "/agent.log";
    std::vector<std::string> args = {PRAETOR_BINARY,
                                     "agent",
                                     "-dev",
                                     "-node=cli-kv-transfer",
                                     std::string("-bind=") + kAddress,
                                     std::string("-client=") + kAddress};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    ASSERT_EQ(::posix_spawn(&agent_, PRAETOR_BINARY, &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    // Readiness: polling a real process until it answers, with a deadline.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (run_praetor({"kv", "export", kHttpAddr, "readiness/"}).exit_code != 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::ifstream log(log_path);
        const std::string text((std::istreambuf_iterator<char>(log)),
                               std::istreambuf_iterator<char>());
        FAIL() << "agent on " << kAddress << " never answered:\n" << text.substr(0, 4000);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  static void TearDownTestSuite() {
    if (agent_ > 0) {
      ::kill(agent_, SIGKILL);
      int status = 0;
      ::waitpid(agent_, &status, 0);
      agent_ = 0;
    }
    delete tmp_;
    tmp_ = nullptr;
  }

  // kv({"export", "p/"}) runs `praetor kv export -http-addr=127.0.0.44:8500 p/`.
  static ProcessResult kv(const std::vector<std::string>& args) {
    std::vector<std::string> full = {"kv", args.at(0), kHttpAddr};
    full.insert(full.end(), args.begin() + 1, args.end());
    return run_praetor(full);
  }

  static void put(const std::string& key, const std::string& value,
                  std::vector<std::string> flags = {}) {
    std::vector<std::string> args = {"put"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back(key);
    args.push_back(value);
    const ProcessResult r = kv(args);
    ASSERT_EQ(r.exit_code, 0) << key << ": " << r.err;
  }

  static TempDir* tmp_;
  static pid_t agent_;
};

TempDir* KvTransferTest::tmp_ = nullptr;
pid_t KvTransferTest::agent_ = 0;

TEST_F(KvTransferTest, ExportPrintsTabIndentedJsonInConsulsFieldOrder) {
  put("layout/b", "two", {"-flags=42"});
  put("layout/a<&>", "one");
  const ProcessResult r = kv({"export", "layout/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Keys sorted; <, & and > escaped as Go's encoder does; values base64.
  EXPECT_EQ(r.out,
            "[\n"
            "\t{\n\t\t\"key\": \"layout/a\\u003c\\u0026\\u003e\",\n\t\t\"flags\": 0,\n"
            "\t\t\"value\": \"b25l\"\n\t},\n"
            "\t{\n\t\t\"key\": \"layout/b\",\n\t\t\"flags\": 42,\n"
            "\t\t\"value\": \"dHdv\"\n\t}\n"
            "]\n");
  EXPECT_EQ(r.err, "");
}

TEST_F(KvTransferTest, ExportOfAnEmptyPrefixIsAnEmptyArray) {
  const ProcessResult r = kv({"export", "nothing-here/"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "[]\n");
}

TEST_F(KvTransferTest, ExportFiltersByPrefix) {
  put("filter/in/x", "1");
  put("filter/inside", "2");
  put("filter/out/y", "3");
  const ProcessResult r = kv({"export", "filter/in"});
  EXPECT_NE(r.out.find("\"filter/in/x\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"filter/inside\""), std::string::npos);  // a string prefix, as Consul
  EXPECT_EQ(r.out.find("filter/out"), std::string::npos);
}

TEST_F(KvTransferTest, RoundTripThroughAFileRestoresKeysFlagsAndBytes) {
  // Binary values go in with -base64 (argv cannot carry NUL); unicode keys as they are.
  const std::string binary_b64 = "AP8BgA0KAHw=";  // 00 ff 01 80 0d 0a 00 7c
  put("trip/binary", binary_b64, {"-base64", "-flags=18446744073709551615"});
  put("trip/ключ/☃", "snow ❄");
  put("trip/empty", "");
  put("trip/folder/", "");
  put("trip/q?#%", "reserved");
  const ProcessResult before = kv({"export", "trip/"});
  ASSERT_EQ(before.exit_code, 0) << before.err;
  const std::string file = tmp_->write("trip.json", before.out);

  ASSERT_EQ(kv({"delete", "-recurse", "trip/"}).exit_code, 0);
  ASSERT_EQ(kv({"export", "trip/"}).out, "[]\n");

  const ProcessResult imported = kv({"import", "@" + file});
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  EXPECT_EQ(imported.out,
            "Imported: trip/binary\n"
            "Imported: trip/empty\n"
            "Imported: trip/folder/\n"
            "Imported: trip/q?#%\n"
            "Imported: trip/ключ/☃\n");
  EXPECT_EQ(kv({"export", "trip/"}).out, before.out);
  EXPECT_EQ(kv({"get", "-base64", "trip/binary"}).out, binary_b64 + "\n");
  EXPECT_EQ(kv({"get", "trip/ключ/☃"}).out, "snow ❄\n");
  const ProcessResult detailed = kv({"get", "-detailed", "trip/binary"});
  EXPECT_NE(detailed.out.find("Flags            18446744073709551615\n"), std::string::npos)
      << detailed.out;
}

TEST_F(KvTransferTest, ImportWithPrefixPutsEveryKeyUnderIt) {
  const std::string data = R"([{"key": "a", "flags": 1, "value": "MQ=="},
                               {"key": "dir/b", "flags": 0, "value": "Mg=="}])";
  const ProcessResult r = kv({"import", "-prefix=restored", data});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "Imported: restored/a\nImported: restored/dir/b\n");
  EXPECT_EQ(kv({"get", "restored/dir/b"}).out, "2\n");
  // A prefix that already ends in '/' gets no second one.
  const ProcessResult slash = kv({"import", "-prefix=restored2/", data});
  EXPECT_EQ(slash.out, "Imported: restored2/a\nImported: restored2/dir/b\n");
  EXPECT_EQ(kv({"get", "a"}).exit_code, 1);  // nothing landed at the root
}

TEST_F(KvTransferTest, ImportReadsStdinAndMatchesFieldNamesCaseInsensitively) {
  const std::string file = tmp_->write("stdin.json", R"([{"Key": "stdin/k", "Flags": 3,
      "Value": "aGk=", "Extra": true}])");
  const std::string out = tmp_->path() + "/stdin.out";
  const std::string cmd = std::string(PRAETOR_BINARY) + " kv import " + kHttpAddr + " - < '" +
                          file + "' > '" + out + "' 2>&1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  std::ifstream in(out);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()),
            "Imported: stdin/k\n");
  EXPECT_EQ(kv({"get", "stdin/k"}).out, "hi\n");
  EXPECT_NE(kv({"get", "-detailed", "stdin/k"}).out.find("Flags            3\n"),
            std::string::npos);
}

TEST_F(KvTransferTest, MalformedImportIsRefusedWholeWithExitOne) {
  struct Case {
    std::vector<std::string> args;
    std::string err;
  };
  const std::vector<Case> cases = {
      {{"import", "not json"}, "Cannot unmarshal data: parse error at line 1, column 2"},
      {{"import", R"({"key": "bad/x"})"},
       "Cannot unmarshal data: expected a JSON array of {key, flags, value} objects\n"},
      {{"import", R"([{"key": 5}])"}, "Cannot unmarshal data: entry 0: key is not a string\n"},
      {{"import", R"([{"key": "bad/x", "flags": -1}])"},
       "Cannot unmarshal data: entry 0: flags is not an unsigned integer\n"},
      {{"import", R"([{"key": "bad/x", "value": "***"}])"},
       "Error base 64 decoding value for key bad/x: illegal base64 data\n"},
      // The first entry is fine; nothing is written because the second is not.
      {{"import", R"([{"key": "bad/first", "value": "MQ=="}, {"flags": 1}])"},
       "Cannot unmarshal data: entry 1 has no key\n"},
      {{"import"}, "Error! Missing DATA argument\n"},
      {{"import", ""}, "Error! Empty DATA argument\n"},
      {{"import", "[]", "[]"}, "Error! Too many arguments (expected 1, got 2)\n"},
      {{"import", "@/nonexistent/kv.json"}, "Error! Failed to read file: "},
      {{"export", "a", "b"}, "Too many arguments (expected 1, got 2)\n"},
  };
  for (const auto& c : cases) {
    const ProcessResult r = kv(c.args);
    EXPECT_EQ(r.exit_code, 1) << c.args.back();
    EXPECT_EQ(r.err.substr(0, c.err.size()), c.err) << r.err;
    EXPECT_EQ(r.out, "") << c.args.back();
  }
  EXPECT_EQ(kv({"export", "bad/"}).out, "[]\n");
}

TEST(KvTransferUnreachableTest, ExportAndImportReportAnUnreachableAgent) {
  const std::string addr = "-http-addr=127.0.0.1:" + std::to_string(free_port());
  const ProcessResult ex = run_praetor({"kv", "export", addr, "x"});
  EXPECT_EQ(ex.exit_code, 1);
  EXPECT_NE(ex.err.find("connection refused"), std::string::npos) << ex.err;
  const ProcessResult im = run_praetor({"kv", "import", addr, R"([{"key":"x","value":""}])"});
  EXPECT_EQ(im.exit_code, 1);
  EXPECT_NE(im.err.find("Error! Failed writing data for key x"), std::string::npos) << im.err;
}

}  // namespace
}  // namespace praetor_cli_test
