// File: tests/server/config_test.cc
// Flags, their OVID_ environment twins, precedence, defaults, and errors naming the flag and the
// allowed range.
#include "server/config.h"

#include <gtest/gtest.h>

#include <map>

#include "absl/strings/str_cat.h"

namespace ovid::server {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](absl::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<Config> Parse(std::vector<std::string> args,
                             std::map<std::string, std::string> env = {}) {
  return ParseConfig(args, Env(std::move(env)));
}

void ExpectError(const absl::StatusOr<Config>& config, const std::vector<std::string>& parts) {
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  for (const auto& part : parts) {
    EXPECT_NE(config.status().message().find(part), absl::string_view::npos)
        << "missing \"" << part << "\" in: " << config.status();
  }
}

TEST(ConfigTest, DefaultsWithOnlyTheModel) {
  absl::StatusOr<Config> c = Parse({"--model=/m/ovi.gguf"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model, "/m/ovi.gguf");
  EXPECT_EQ(c->listen, "0.0.0.0:50051");
  EXPECT_EQ(c->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(c->dequant, WeightMode::kLazy);
  EXPECT_EQ(c->max_receive_bytes, 16u << 20);
  EXPECT_EQ(c->log_format, LogFormat::kText);
  EXPECT_EQ(c->fault_oom_at_step, 0u);
  EXPECT_EQ(c->fault_step_delay_ms, 0u);
  EXPECT_EQ(c->fault_vram_bytes, 0u);
  EXPECT_EQ(c->batch_guidance, BatchGuidance::kAuto);
  EXPECT_TRUE(c->measure_dispatch);  // --fused-dispatch measured
  EXPECT_EQ(c->job_stall_timeout, absl::Minutes(15));
  EXPECT_EQ(c->tenant_scheduling, TenantScheduling::kFair);
  EXPECT_EQ(c->max_connection_age, absl::Minutes(1));
  EXPECT_FALSE(c->core_dumps);
  EXPECT_FALSE(c->tls());
}

TEST(ConfigTest, ModelIsRequired) { ExpectError(Parse({}), {"--model", "OVID_MODEL"}); }

TEST(ConfigTest, EveryKindOfFlagParses) {
  absl::StatusOr<Config> c = Parse({"--model",
                                    "m.gguf",
                                    "--listen=127.0.0.1:1",
                                    "--dequant=cache",
                                    "--vram-budget=40G",
                                    "--max-queue=3",
                                    "--max-queue-per-tenant=2",
                                    "--max-tenant-priority=-3",
                                    "--tenant-scheduling=fifo",
                                    "--workers",
                                    "2",
                                    "--drain-timeout=90s",
                                    "--stream-stall-timeout=45s",
                                    "--job-stall-timeout=0",
                                    "--max-connection-age=30s",
                                    "--drain-queued=refuse",
                                    "--job-ttl=2h",
                                    "--max-jobs-kept=7",
                                    "--max-kept-bytes=512M",
                                    "--tls-cert=c.pem",
                                    "--tls-key=k.pem",
                                    "--tls-client-ca=ca.pem",
                                    "--log-format=json",
                                    "--max-receive-bytes=32MiB",
                                    "--fault-oom-at-step=3",
                                    "--health-address=0.0.0.0:8081",
                                    "--batch-guidance=on",
                                    "--max-queue-wait=5m",
                                    "--fused-dispatch=fixed",
                                    "--core-dumps=on"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->measure_dispatch);
  EXPECT_TRUE(c->core_dumps);
  EXPECT_EQ(c->model, "m.gguf");
  EXPECT_EQ(c->listen, "127.0.0.1:1");
  EXPECT_EQ(c->dequant, WeightMode::kCache);
  EXPECT_EQ(c->vram_budget_bytes, 40ull << 30);
  EXPECT_EQ(c->max_queue, 3u);
  EXPECT_EQ(c->max_queue_per_tenant, 2u);
  EXPECT_EQ(c->max_tenant_priority, -3);
  EXPECT_EQ(c->tenant_scheduling, TenantScheduling::kFifo);
  EXPECT_EQ(c->workers, 2u);
  EXPECT_EQ(c->drain_timeout, absl::Seconds(90));
  EXPECT_EQ(c->stream_stall_timeout, absl::Seconds(45));
  EXPECT_EQ(c->job_stall_timeout, absl::ZeroDuration());
  EXPECT_EQ(c->max_connection_age, absl::Seconds(30));
  EXPECT_FALSE(c->drain_runs_queued);
  EXPECT_EQ(c->job_ttl, absl::Hours(2));
  EXPECT_EQ(c->max_jobs_kept, 7u);
  EXPECT_EQ(c->max_kept_bytes, 512u << 20);
  EXPECT_TRUE(c->tls());
  EXPECT_EQ(c->tls_client_ca, "ca.pem");
  EXPECT_EQ(c->log_format, LogFormat::kJson);
  EXPECT_EQ(c->max_receive_bytes, 32u << 20);
  EXPECT_EQ(c->fault_oom_at_step, 3u);
  EXPECT_EQ(c->health_address, "0.0.0.0:8081");
  EXPECT_EQ(c->batch_guidance, BatchGuidance::kOn);
  EXPECT_EQ(c->max_queue_wait, absl::Minutes(5));
}

TEST(ConfigTest, EnvironmentTwinsApplyAndFlagsWin) {
  absl::StatusOr<Config> c = Parse({"--max-queue=9"}, {{"OVID_MODEL", "env.gguf"},
                                                       {"OVID_MAX_QUEUE", "4"},
                                                       {"OVID_METRICS_LISTEN", "127.0.0.1:9999"},
                                                       {"OVID_FAULT_STEP_DELAY_MS", "25"},
                                                       {"OVID_DRAIN_TIMEOUT", "12"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->model, "env.gguf");
  EXPECT_EQ(c->max_queue, 9u);  // the flag wins
  EXPECT_EQ(c->metrics_listen, "127.0.0.1:9999");
  EXPECT_EQ(c->fault_step_delay_ms, 25u);
  EXPECT_EQ(c->drain_timeout, absl::Seconds(12));  // plain number = seconds
}

TEST(ConfigTest, BadValuesNameTheFlagAndTheAllowedRange) {
  ExpectError(Parse({"--model=m", "--workers=0"}), {"--workers", "[1, 64]"});
  ExpectError(Parse({"--model=m", "--max-queue=lots"}), {"--max-queue", "[1, 100000]"});
  ExpectError(Parse({"--model=m", "--max-tenant-priority=101"}),
              {"--max-tenant-priority", "[-100, 100]"});
  ExpectError(Parse({"--model=m", "--dequant=fast"}), {"--dequant", "cache|eager|lazy"});
  ExpectError(Parse({"--model=m", "--tenant-scheduling=round-robin"}),
              {"--tenant-scheduling", "fair|fifo|share"});
  absl::StatusOr<Config> share = Parse({"--model=m", "--tenant-scheduling=share"});
  ASSERT_TRUE(share.ok()) << share.status();
  EXPECT_EQ(share->tenant_scheduling, TenantScheduling::kShare);
  ExpectError(Parse({"--model=m", "--core-dumps=yes"}), {"--core-dumps", "off|on"});
  ExpectError(Parse({"--model=m", "--log-format=xml"}), {"--log-format", "json|text"});
  ExpectError(Parse({"--model=m", "--batch-guidance=yes"}), {"--batch-guidance", "auto|off|on"});
  ExpectError(Parse({"--model=m", "--fused-dispatch=fast"}),
              {"--fused-dispatch", "fixed|measured"});
  ExpectError(Parse({"--model=m", "--vram-budget=12Q"}), {"--vram-budget", "K, M, G"});
  ExpectError(Parse({"--model=m", "--max-receive-bytes=1K"}), {"--max-receive-bytes", "4096"});
  ExpectError(Parse({"--model=m", "--job-ttl=-5s"}), {"--job-ttl", "duration"});
  ExpectError(Parse({"--model=m", "--drain-timeout=soon"}), {"--drain-timeout"});
  ExpectError(Parse({"--model=m", "--max-queue-wait=25h"}), {"--max-queue-wait", "24h"});
  ExpectError(Parse({"--model=m", "--max-queue-wait=1ms"}),
              {"--max-queue-wait", "10ms", "0 turns"});
  ExpectError(Parse({"--model=m", "--drain-timeout=nan"}), {"--drain-timeout", "duration"});
  ExpectError(Parse({"--model=m", "--drain-timeout=-1.5"}), {"--drain-timeout", "duration"});
}

// gRPC itself would listen on the port modulo 65536: 127.0.0.1:99999 served on 34463.
TEST(ConfigTest, ListeningPortsPast65535AreRefusedNotWrapped) {
  for (const char* flag : {"--listen", "--health-address"}) {
    for (const char* bad :
         {"127.0.0.1:99999", "127.0.0.1:65536", "0.0.0.0:115587", "[::]:70000",
          "127.0.0.1:", "127.0.0.1:+80", "127.0.0.1: 80", "50051", ":::50051", "127.0.0.1:0x50"}) {
      ExpectError(Parse({"--model=m", absl::StrCat(flag, "=", bad)}), {flag, bad, "0..65535"});
    }
  }
  ExpectError(Parse({"--model=m"}, {{"OVID_LISTEN", "0.0.0.0:70000"}}),
              {"OVID_LISTEN", "0..65535"});
  absl::StatusOr<Config> c =
      Parse({"--model=m", "--listen=[::1]:65535", "--health-address=localhost:0"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "[::1]:65535");
  EXPECT_EQ(c->health_address, "localhost:0");
  c = Parse({"--model=m", "--listen=unix:/run/ovid.sock", "--health-address="});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->listen, "unix:/run/ovid.sock");
  EXPECT_EQ(c->health_address, "");
}

// A plain number is seconds, fractions included ("1.5" was refused as "not a duration").
TEST(ConfigTest, PlainDurationsMayHaveFractions) {
  absl::StatusOr<Config> c = Parse({"--model=m", "--drain-timeout=1.5", "--max-queue-wait=0.25"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->drain_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(c->max_queue_wait, absl::Milliseconds(250));
}

TEST(ConfigTest, PipelineStagesOffloadAndDecodeSettings) {
  absl::StatusOr<Config> c =
      Parse({"--model=m", "--text-encoder=/m/umt5.gguf", "--tokenizer=/m/spiece.model",
             "--vae=/m/v", "--audio-vae=/m/a", "--vocoder=/m/b", "--offload=text, vae,denoiser",
             "--vae-dtype=bf16", "--vae-chunk-frames=2", "--mp4-crf=18", "--mp4-preset=slow"},
            {{"OVID_AUDIO_DTYPE", "bf16"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->components.text_encoder, "/m/umt5.gguf");
  EXPECT_EQ(c->components.tokenizer, "/m/spiece.model");
  EXPECT_EQ(c->components.video_vae, "/m/v");
  EXPECT_EQ(c->components.audio_vae, "/m/a");
  EXPECT_EQ(c->components.vocoder, "/m/b");
  EXPECT_TRUE(c->offload.text_encoder);
  EXPECT_TRUE(c->offload.video_vae);
  EXPECT_FALSE(c->offload.audio);
  EXPECT_TRUE(c->offload.denoiser);
  EXPECT_TRUE(c->decode.video_vae_bf16);
  EXPECT_TRUE(c->decode.audio_bf16);
  EXPECT_EQ(c->decode.vae_chunk_frames, 2u);
  EXPECT_EQ(c->decode.mp4_crf, 18u);
  EXPECT_EQ(c->decode.mp4_preset, "slow");
  // The defaults: nothing offloaded, f32 decoders, Ovi's MP4 settings.
  c = Parse({"--model=m"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->offload.text_encoder || c->offload.video_vae || c->offload.audio ||
               c->offload.denoiser);
  EXPECT_FALSE(c->decode.video_vae_bf16);
  EXPECT_EQ(c->decode.mp4_crf, 23u);
  EXPECT_EQ(c->decode.mp4_preset, "medium");

  ExpectError(Parse({"--model=m", "--offload=text,gpu"}), {"--offload", "\"gpu\"", "denoiser"});
  ExpectError(Parse({"--model=m", "--vae-dtype=f16"}), {"--vae-dtype", "f32|bf16"});
  ExpectError(Parse({"--model=m", "--mp4-crf=52"}), {"--mp4-crf", "[0, 51]"});
  ExpectError(Parse({"--model=m", "--mp4-preset=turbo"}), {"--mp4-preset", "ultrafast"});
  ExpectError(Parse({"--model=m", "--vae-chunk-frames=0"}), {"--vae-chunk-frames", "[1, 64]"});
}

TEST(ConfigTest, BadEnvironmentValueNamesTheVariableAndTheFlag) {
  ExpectError(Parse({"--model=m"}, {{"OVID_WORKERS", "-1"}}),
              {"OVID_WORKERS", "--workers", "[1, 64]"});
}

TEST(ConfigTest, UnknownFlagsMissingValuesAndStrayArgumentsAreErrors) {
  ExpectError(Parse({"--model=m", "--frobnicate=1"}), {"unknown flag --frobnicate"});
  ExpectError(Parse({"--model"}), {"--model needs a value"});
  ExpectError(Parse({"--model=m", "extra"}), {"extra"});
}

TEST(ConfigTest, TlsFlagsGoTogether) {
  ExpectError(Parse({"--model=m", "--tls-cert=c"}), {"--tls-cert", "--tls-key"});
  ExpectError(Parse({"--model=m", "--tls-client-ca=ca"}), {"--tls-client-ca"});
  ExpectError(Parse({"--model=m", "--health-address=0.0.0.0:50051"}), {"--health-address"});
}

TEST(ConfigTest, AnEmptySecurityFileIsRefusedNotTakenAsOff) {
  // An unfilled template would otherwise start a plaintext daemon without auth.
  for (const char* flag : {"--auth-token-file=", "--tls-cert=", "--tls-key=", "--tls-client-ca="}) {
    ExpectError(Parse({"--model=m", flag}),
                {std::string(flag).substr(0, std::string(flag).size() - 1),
                 "is empty, which would turn this security setting off"});
  }
  ExpectError(Parse({"--model=m"}, {{"OVID_AUTH_TOKEN_FILE", ""}}),
              {"OVID_AUTH_TOKEN_FILE", "is empty"});
}

TEST(ConfigTest, HelpSkipsValidationAndDocumentsEveryFlagWithItsTwin) {
  absl::StatusOr<Config> c = Parse({"--help"});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->help);
  // Not even a bad variable or an earlier bad flag stands in the way of the help.
  c = Parse({"--workers=0", "--help"}, {{"OVID_WORKERS", "0"}});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->help);
  const std::string help = HelpText();
  for (const char* flag : {"model",
                           "listen",
                           "metrics-listen",
                           "health-address",
                           "dequant",
                           "vram-budget",
                           "max-queue",
                           "workers",
                           "drain-timeout",
                           "job-ttl",
                           "max-jobs-kept",
                           "max-kept-bytes",
                           "stream-stall-timeout",
                           "job-stall-timeout",
                           "max-connection-age",
                           "drain-queued",
                           "tls-cert",
                           "tls-key",
                           "tls-client-ca",
                           "reload-interval",
                           "auth-token-file",
                           "log-format",
                           "max-receive-bytes",
                           "fault-oom-at-step",
                           "fault-step-delay-ms",
                           "fault-vram-bytes",
                           "fault-load-delay-ms"}) {
    EXPECT_NE(help.find(std::string("--") + flag + "="), std::string::npos) << flag;
  }
  EXPECT_NE(help.find("OVID_MAX_JOBS_KEPT"), std::string::npos);
  EXPECT_NE(help.find("TEST ONLY"), std::string::npos);
}

TEST(ConfigTest, LoopbackListenAddresses) {
  for (const char* local : {"127.0.0.1:50051", "127.1.2.3:1", "localhost:50051", "LOCALHOST:1",
                            "[::1]:50051", "unix:/run/ovid.sock", "unix-abstract:ovid"}) {
    EXPECT_TRUE(IsLoopbackListen(local)) << local;
  }
  for (const char* network : {"0.0.0.0:50051", "[::]:50051", "10.0.0.5:50051", "ovid:50051",
                              "[2001:db8::1]:50051", "128.0.0.1:1", ":50051"}) {
    EXPECT_FALSE(IsLoopbackListen(network)) << network;
  }
}

TEST(ConfigTest, ByteSizes) {
  EXPECT_EQ(*ParseByteSize("1048576"), 1048576u);
  EXPECT_EQ(*ParseByteSize("512K"), 512u << 10);
  EXPECT_EQ(*ParseByteSize("16M"), 16u << 20);
  EXPECT_EQ(*ParseByteSize("16MiB"), 16u << 20);
  EXPECT_EQ(*ParseByteSize("2g"), 2ull << 30);
  EXPECT_EQ(*ParseByteSize("1T"), 1ull << 40);
  EXPECT_FALSE(ParseByteSize("").ok());
  EXPECT_FALSE(ParseByteSize("-1").ok());
  EXPECT_FALSE(ParseByteSize("1.5G").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999T").ok());
}

}  // namespace
}  // namespace ovid::server
