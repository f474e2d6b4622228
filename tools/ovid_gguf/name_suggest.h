// File: tools/ovid_gguf/name_suggest.h
// "Did you mean" for tensor names: the candidates closest to a mistyped name.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ovid::tools {

// Up to `max_results` candidates, closest first: names containing `query`, then names within
// an edit distance of about a third of the query's length.
std::vector<std::string> SuggestNames(std::string_view query,
                                      const std::vector<std::string>& candidates,
                                      size_t max_results = 3);

}  // namespace ovid::tools
