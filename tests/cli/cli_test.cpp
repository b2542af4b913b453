// Runs the built `praetor` binary: version, keygen, validate on the seed's configs, config
// errors that name file and key, exit codes, and HTTP commands against an unreachable agent.
#include "tests/cli/praetor_process.hpp"

namespace praetor_cli_test {
namespace {

TEST(CliTest, Version) {
  const ProcessResult r = run_praetor({"version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.out.starts_with("Praetor v0.1.0\n")) << r.out;
  EXPECT_NE(r.out.find("Protocol 2 spoken by default"), std::string::npos);
}

TEST(CliTest, KeygenOutputIsAValidEncryptKey) {
  const ProcessResult k1 = run_praetor({"keygen"});
  const ProcessResult k2 = run_praetor({"keygen"});
  EXPECT_EQ(k1.exit_code, 0);
  ASSERT_EQ(k1.out.size(), 45u) << k1.out;  // base64 of 32 bytes + newline
  EXPECT_NE(k1.out, k2.out);
  TempDir tmp;
  const std::string key = k1.out.substr(0, 44);
  const ProcessResult v =
      run_praetor({"validate", tmp.write("e.json", R"({"encrypt": ")" + key + R"("})")});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST(CliTest, UnknownCommandPrintsCommandListAndFails) {
  const ProcessResult r = run_praetor({"frobnicate"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("Available commands are"), std::string::npos);
  EXPECT_NE(r.err.find("validate"), std::string::npos);
  EXPECT_EQ(run_praetor({}).exit_code, 1);
}

TEST(CliTest, ValidateSeedConfigs) {
  for (const char* file : {"server.json", "client.json"}) {
    const ProcessResult r = run_praetor({"validate", testdata(file)});
    EXPECT_EQ(r.exit_code, 0) << file << ": " << r.err;
    EXPECT_EQ(r.out, "Configuration is valid!\n");
  }
  // A directory: every *.json in it, merged in lexical order.
  const ProcessResult dir = run_praetor({"validate", PRAETOR_TESTDATA});
  EXPECT_EQ(dir.exit_code, 0) << dir.err;
  EXPECT_EQ(dir.out, "Configuration is valid!\n");
  // Consul's validate does not require data_dir.
  TempDir tmp;
  const ProcessResult no_dir =
      run_praetor({"validate", tmp.write("a.json", R"({"server": false})")});
  EXPECT_EQ(no_dir.exit_code, 0) << no_dir.err;
}

TEST(CliTest, ValidateErrorsNameFileAndKey) {
  TempDir tmp;
  struct Case {
    std::string text;
    std::string key_part;
  };
  const std::vector<Case> cases = {
      {R"({"ports": {"http": "8500"}})", ": ports.http: expected a number"},
      {R"({"retry_interval": "soon"})", ": retry_interval: invalid duration \"soon\""},
      {R"({"bind_addr": "10.0.0.300"})", ": bind_addr: invalid ip address"},
      {R"({"server": false, "bootstrap_expect": 3})", ": bootstrap_expect: "},
      {R"({"data_dir": "/x", "node": )", ": invalid JSON: parse error at line 1"},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string path = tmp.write("c" + std::to_string(i) + ".json", cases[i].text);
    const ProcessResult r = run_praetor({"validate", path});
    EXPECT_EQ(r.exit_code, 1) << cases[i].text;
    EXPECT_NE(r.err.find(path + cases[i].key_part), std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("Configuration is valid!"), std::string::npos);
  }
}

TEST(CliTest, ValidateFileProblems) {
  TempDir tmp;
  const ProcessResult missing = run_praetor({"validate", tmp.path() + "/nope.json"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(tmp.path() + "/nope.json"), std::string::npos) << missing.err;
  const std::string hcl = tmp.write("agent.hcl", "server = true\n");
  const ProcessResult h = run_praetor({"validate", tmp.path()});
  EXPECT_EQ(h.exit_code, 1);
  EXPECT_NE(h.err.find(hcl + ": HCL is not supported yet"), std::string::npos) << h.err;
  const ProcessResult none = run_praetor({"validate"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("Must specify at least one config file"), std::string::npos);
}

TEST(CliTest, AgentWithBadConfigExitsBeforeStarting) {
  TempDir tmp;
  const std::string bad = tmp.write("bad.json", R"({"ports": {"dns": "x"}})");
  const int port = free_port();
  const ProcessResult r = run_praetor(
      {"agent", "-dev", "-http-port", std::to_string(port), "-config-dir=" + tmp.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(bad + ": ports.dns: expected a number"), std::string::npos) << r.err;
  // Nothing started: no banner, no listener.
  EXPECT_EQ(r.out.find("Starting"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("Started"), std::string::npos) << r.err;
}

TEST(CliTest, AgentFlagErrors) {
  const ProcessResult unknown = run_praetor({"agent", "-dev", "-no-such-flag"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("flag provided but not defined: -no-such-flag"), std::string::npos);
  const ProcessResult bad_value = run_praetor({"agent", "-dev", "-http-port=eighty"});
  EXPECT_EQ(bad_value.exit_code, 1);
  EXPECT_NE(bad_value.err.find("invalid value \"eighty\" for flag -http-port"), std::string::npos);
  const ProcessResult hcl = run_praetor({"agent", "-dev", "-hcl", "server = true"});
  EXPECT_EQ(hcl.exit_code, 1);
  EXPECT_NE(hcl.err.find("HCL is not supported"), std::string::npos) << hcl.err;
  const ProcessResult no_data_dir = run_praetor({"agent", "-server"});
  EXPECT_EQ(no_data_dir.exit_code, 1);
  EXPECT_NE(no_data_dir.err.find("data_dir cannot be empty"), std::string::npos);
  // Flags are the last source: a bad flag value is reported as "command line", by the flag.
  const ProcessResult dur = run_praetor({"agent", "-dev", "-retry-interval", "often"});
  EXPECT_EQ(dur.exit_code, 1);
  EXPECT_NE(dur.err.find("command line: -retry-interval: invalid duration \"often\""),
            std::string::npos)
      << dur.err;
}

TEST(CliTest, HttpCommandsReportAnUnreachableAgent) {
  const std::string addr = "127.0.0.1:" + std::to_string(free_port());
  const ProcessResult r = run_praetor({"kv", "get", "-http-addr=" + addr, "foo"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("connection refused"), std::string::npos) << r.err;
  const ProcessResult env = run_praetor({"members"}, {"CONSUL_HTTP_ADDR=" + addr});
  EXPECT_EQ(env.exit_code, 1);
  EXPECT_NE(env.err.find(addr), std::string::npos) << env.err;
  const ProcessResult missing_key = run_praetor({"kv", "get"});
  EXPECT_EQ(missing_key.exit_code, 1);
  EXPECT_NE(missing_key.err.find("Error! Missing KEY argument"), std::string::npos);
}

}  // namespace
}  // namespace praetor_cli_test
