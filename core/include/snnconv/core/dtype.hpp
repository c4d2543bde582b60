// Element types of tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace snnconv {

enum class DType : std::uint8_t { f32, f16, i8, u8, i32, i64, boolean };

inline constexpr int kDTypeCount = 7;

std::size_t dtype_size(DType t);
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
bool is_float(DType t);
bool is_integer(DType t);  // i8 u8 i32 i64 (not bool)

// C++ type -> DType.
template <typename T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<std::int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<std::uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };

// IEEE half <-> float (round to nearest even), used for f16 tensors stored as uint16 bits.
float half_to_float(std::uint16_t h);
std::uint16_t float_to_half(float f);

}  // namespace snnconv
