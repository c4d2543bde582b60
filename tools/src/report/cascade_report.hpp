// cascade.json and cascade.md of `snnconv cascade` (docs/cascades.md): formatting only, every number comes
// from cascade::CascadeResult; the Markdown is built from the JSON so that the two never disagree.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "snnconv/cascade/cascade.hpp"

namespace snnconv::report {

nlohmann::json cascade_json(const cascade::CascadeResult& r);
std::string cascade_markdown(const nlohmann::json& j);

}  // namespace snnconv::report
