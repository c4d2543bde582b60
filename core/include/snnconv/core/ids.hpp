// Strong typed indices into a Graph's node and value arrays.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <limits>

namespace snnconv {

template <typename Tag> struct Id {
  static constexpr std::uint32_t kInvalid = std::numeric_limits<std::uint32_t>::max();
  std::uint32_t index = kInvalid;

  constexpr Id() = default;
  constexpr explicit Id(std::uint32_t i) : index(i) {}
  constexpr bool valid() const { return index != kInvalid; }
  constexpr auto operator<=>(const Id&) const = default;
};

struct NodeTag {};
struct ValueTag {};
using NodeId = Id<NodeTag>;
using ValueId = Id<ValueTag>;

}  // namespace snnconv

template <typename Tag> struct std::hash<snnconv::Id<Tag>> {
  std::size_t operator()(const snnconv::Id<Tag>& id) const noexcept { return id.index; }
};
