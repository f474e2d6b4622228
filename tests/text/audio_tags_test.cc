// File: tests/text/audio_tags_test.cc
// The per-variant audio-caption formatters against what Ovi's re.sub calls give (worked out from
// the patterns in spec encoders.md §1; test_text_vs_python.py runs the real re.sub too).
#include "engine/text/audio_tags.h"

#include <string>

#include "gtest/gtest.h"

namespace ovid::text {
namespace {

std::string ForVariant(const std::string& prompt, const std::string& variant) {
  absl::StatusOr<std::string> out = RewriteAudioTagsForVariant(prompt, variant);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : "<error>";
}

TEST(AudioTags, VariantsMapToTheirStyles) {
  EXPECT_EQ(*AudioTagStyleForVariant("720x720_5s"), AudioTagStyle::kAudcap);
  EXPECT_EQ(*AudioTagStyleForVariant("960x960_5s"), AudioTagStyle::kAudioColon);
  EXPECT_EQ(*AudioTagStyleForVariant("960x960_10s"), AudioTagStyle::kAudioColon);
  EXPECT_EQ(*AudioTagStyleForVariant("128x128_5s"), AudioTagStyle::kAudcap);
}

TEST(AudioTags, UnknownVariantIsAnErrorNamingTheKnownOnes) {
  absl::StatusOr<std::string> out = RewriteAudioTagsForVariant("x", "640x640_5s");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("\"640x640_5s\""), std::string::npos);
  EXPECT_NE(out.status().message().find("960x960_10s"), std::string::npos);
}

TEST(AudioTags, AudioColonBecomesAudcapFor720) {
  const std::string v = "720x720_5s";
  EXPECT_EQ(ForVariant("A cat. <S>Hi!<E> Audio: rain falls", v),
            "A cat. <S>Hi!<E> <AUDCAP>rain falls<ENDAUDCAP>");
  // Everything after the first "Audio:" is the caption, newlines and later "Audio:" included.
  EXPECT_EQ(ForVariant("x Audio:\n  rain\nAudio: more", v),
            "x <AUDCAP>rain\nAudio: more<ENDAUDCAP>");
  EXPECT_EQ(ForVariant("Audio:", v), "<AUDCAP><ENDAUDCAP>");
  EXPECT_EQ(ForVariant("Audio:\u3000wind", v), "<AUDCAP>wind<ENDAUDCAP>");  // \s* is Unicode
  // Already in style, lower case, or no caption: unchanged.
  for (const std::string same : {"<AUDCAP>rain<ENDAUDCAP>", "audio: lower", "no caption"}) {
    EXPECT_EQ(ForVariant(same, v), same);
  }
}

TEST(AudioTags, AudcapBecomesAudioColonFor960) {
  for (const std::string v : {"960x960_5s", "960x960_10s"}) {
    EXPECT_EQ(ForVariant("A cat. <S>Hi!<E> <AUDCAP>rain falls<ENDAUDCAP>", v),
              "A cat. <S>Hi!<E> Audio: rain falls");
    EXPECT_EQ(ForVariant("<AUDCAP>a\nb<ENDAUDCAP> x <AUDCAP>c<ENDAUDCAP>!", v),
              "Audio: a\nb x Audio: c!");
    // The shortest match: the first <ENDAUDCAP> closes, an inner <AUDCAP> is caption text.
    EXPECT_EQ(ForVariant("<AUDCAP><AUDCAP>a<ENDAUDCAP><ENDAUDCAP>", v),
              "Audio: <AUDCAP>a<ENDAUDCAP>");
    // Unclosed or already in style: unchanged.
    for (const std::string same : {"<AUDCAP>open", "x <ENDAUDCAP> y", "Audio: rain"}) {
      EXPECT_EQ(ForVariant(same, v), same);
    }
  }
}

TEST(AudioTags, RefusesInvalidUtf8) {
  absl::StatusOr<std::string> out = RewriteAudioTagsForVariant("Audio: \xff", "720x720_5s");
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ovid::text
