// File: engine/pipeline/weight_mode.cc
// The names of the API's enums that the server prints (torch-free, in ovid_pipeline_api).
#include "ovid/ovi_pipeline.h"

namespace ovid {

const char* WeightModeName(WeightMode mode) {
  switch (mode) {
    case WeightMode::kLazy:
      return "lazy";
    case WeightMode::kEager:
      return "eager";
    case WeightMode::kCache:
      return "cache";
  }
  return "?";
}

const char* BatchGuidanceName(BatchGuidance mode) {
  switch (mode) {
    case BatchGuidance::kOff:
      return "off";
    case BatchGuidance::kOn:
      return "on";
    case BatchGuidance::kAuto:
      return "auto";
  }
  return "?";
}

}  // namespace ovid
