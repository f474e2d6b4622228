// File: engine/media/aac_encoder.cc
#include "engine/media/aac_encoder.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

extern "C" {
#include <libavutil/channel_layout.h>
}

namespace ovid::media {

absl::StatusOr<std::unique_ptr<AacEncoder>> AacEncoder::Open(const Mp4Options& o,
                                                             bool global_header) {
  absl::StatusOr<const AVCodec*> codec = FindEncoder("aac");
  if (!codec.ok()) return codec.status();
  std::unique_ptr<AacEncoder> enc(new AacEncoder());
  // Allocated for the codec, so its defaults apply (bit_rate 0 = the encoder's own choice).
  enc->codec_.reset(avcodec_alloc_context3(*codec));
  enc->packet_.reset(av_packet_alloc());
  if (!enc->codec_ || !enc->packet_) {
    return absl::ResourceExhaustedError("aac: codec context/packet: out of memory");
  }
  AVCodecContext* ctx = enc->codec_.get();
  ctx->sample_fmt = AV_SAMPLE_FMT_FLTP;  // the native encoder's only input format
  ctx->sample_rate = o.audio_sample_rate;
  av_channel_layout_default(&ctx->ch_layout, o.audio_channels);
  ctx->time_base = AVRational{1, o.audio_sample_rate};
  if (o.audio_bitrate > 0) ctx->bit_rate = o.audio_bitrate;
  if (global_header) ctx->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (int ret = avcodec_open2(ctx, *codec, nullptr); ret < 0) {
    return AvError(ret, "avcodec_open2 (aac)");
  }
  return enc;
}

absl::StatusOr<std::vector<float>> AacEncoder::Resample(const AudioPcm& audio) {
  // libswresample counts samples in int.
  const int64_t out_count =
      static_cast<int64_t>(audio.samples.size()) * codec_->sample_rate / audio.sample_rate;
  if (out_count > (int64_t{1} << 30)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "audio: ", audio.samples.size(), " samples at ", audio.sample_rate, " Hz make ",
        out_count, " at ", codec_->sample_rate, " Hz, over 2^30"));
  }
  AVChannelLayout mono;
  av_channel_layout_default(&mono, 1);
  SwrContext* raw = nullptr;
  // Mono to mono: the duplication to stereo happens in SendFrame (see the header).
  int ret = swr_alloc_set_opts2(&raw, &mono, AV_SAMPLE_FMT_FLT,
                                codec_->sample_rate, &mono, AV_SAMPLE_FMT_FLT, audio.sample_rate,
                                0, nullptr);
  SwrPtr swr(raw);
  if (ret < 0) return AvError(ret, "swr_alloc_set_opts2");
  if ((ret = swr_init(swr.get())) < 0) return AvError(ret, "swr_init");

  // The conversion's clamp, without its integer step (see the header).
  std::vector<float> in(audio.samples.begin(), audio.samples.end());
  for (float& s : in) s = std::clamp(s, -1.0f, 1.0f);
  const int in_count = static_cast<int>(in.size());
  std::vector<float> out;
  int produced = 0;
  // Pass 1 converts the input, pass 2 (no input) flushes what the filter still holds; before
  // each, swr_get_out_samples bounds what the call can write.
  for (int pass = 0; pass < 2; ++pass) {
    const int room = swr_get_out_samples(swr.get(), pass == 0 ? in_count : 0);
    if (room < 0) return AvError(room, "swr_get_out_samples");
    out.resize(static_cast<size_t>(produced) + room);
    uint8_t* dst[1] = {reinterpret_cast<uint8_t*>(out.data() + produced)};
    const uint8_t* src[1] = {reinterpret_cast<const uint8_t*>(in.data())};
    const int n = swr_convert(swr.get(), dst, room, pass == 0 ? src : nullptr,
                              pass == 0 ? in_count : 0);
    if (n < 0) return AvError(n, "swr_convert");
    produced += n;
  }
  out.resize(static_cast<size_t>(produced));
  return out;
}

absl::Status AacEncoder::SendFrame(const std::vector<float>& mono, int64_t start, int count,
                                   const PacketSink& sink) {
  FramePtr frame(av_frame_alloc());
  if (!frame) return absl::ResourceExhaustedError("av_frame_alloc (aac): out of memory");
  frame->format = AV_SAMPLE_FMT_FLTP;
  frame->sample_rate = codec_->sample_rate;
  frame->nb_samples = count;
  if (int ret = av_channel_layout_copy(&frame->ch_layout, &codec_->ch_layout); ret < 0) {
    return AvError(ret, "av_channel_layout_copy");
  }
  if (int ret = av_frame_get_buffer(frame.get(), 0); ret < 0) {
    return AvError(ret, "av_frame_get_buffer (aac)");
  }
  for (int c = 0; c < codec_->ch_layout.nb_channels; ++c) {
    std::memcpy(frame->data[c], mono.data() + start, sizeof(float) * count);
  }
  frame->pts = start;
  if (int ret = avcodec_send_frame(codec_.get(), frame.get()); ret < 0) {
    return AvError(ret, absl::StrCat("avcodec_send_frame (aac, sample ", start, ")"));
  }
  return DrainPackets(codec_.get(), packet_.get(), sink);
}

absl::Status AacEncoder::EncodeAll(const AudioPcm& audio, const PacketSink& sink) {
  absl::StatusOr<std::vector<float>> mono = Resample(audio);
  if (!mono.ok()) return mono.status();
  // A few samples can resample to none; the muxer would then drop the audio track and the MP4
  // would come back without sound and without an error.
  if (mono->empty()) {
    return absl::InvalidArgumentError(absl::StrCat("audio: ", audio.samples.size(), " samples at ",
                                                   audio.sample_rate, " Hz resample to none at ",
                                                   codec_->sample_rate,
                                                   " Hz; the MP4's audio track would be empty"));
  }
  const int64_t total = static_cast<int64_t>(mono->size());
  const int frame_size = codec_->frame_size;  // 1024 for AAC-LC
  // The last frame may be short: the encoder pads it, and the MP4 edit list trims the padding.
  for (int64_t start = 0; start < total; start += frame_size) {
    const int count = static_cast<int>(std::min<int64_t>(frame_size, total - start));
    if (absl::Status s = SendFrame(*mono, start, count, sink); !s.ok()) return s;
  }
  if (int ret = avcodec_send_frame(codec_.get(), nullptr); ret < 0) {
    return AvError(ret, "avcodec_send_frame (aac, flush)");
  }
  return DrainPackets(codec_.get(), packet_.get(), sink);
}

}  // namespace ovid::media
