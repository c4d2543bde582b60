// The pieces of a data-parallel run that need no MPI: the static shards and the packing of what ranks send.
#include <doctest/doctest.h>

#include "snnconv/core/communicator.hpp"
#include "snnconv/core/error.hpp"

using namespace snnconv;

TEST_CASE("shard_of covers every item exactly once, contiguously, for any rank count") {
  for (std::size_t n : {0u, 1u, 7u, 10u, 1000u})
    for (int k = 1; k <= 9; ++k) {
      std::size_t next = 0;
      for (int r = 0; r < k; ++r) {
        const ShardRange s = shard_of(n, r, k);
        CHECK(s.lo == next);
        CHECK(s.hi >= s.lo);
        CHECK(s.hi - s.lo <= n / static_cast<std::size_t>(k) + 1);  // balanced to one item
        next = s.hi;
      }
      CHECK(next == n);
    }
}

TEST_CASE("BytesOut / BytesIn round-trip values and tensors, a short or corrupt message is an Error") {
  BytesOut out;
  out.put<std::int32_t>(-7);
  out.put<double>(0.1);
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, -0.0f});
  out.put_tensor(t);
  out.put_tensor(Tensor::from_vector<std::int64_t>({}, {42}));
  const std::string bytes = out.str();
  BytesIn in(bytes);
  CHECK(in.get<std::int32_t>() == -7);
  CHECK(in.get<double>() == 0.1);
  const Tensor back = in.get_tensor();
  CHECK(back.shape() == t.shape());
  CHECK(back.dtype() == DType::f32);
  CHECK(std::memcmp(back.raw(), t.raw(), t.nbytes()) == 0);
  CHECK(in.get_tensor().data<std::int64_t>()[0] == 42);
  CHECK(in.done());
  CHECK_THROWS_AS(in.get<std::uint8_t>(), Error);
  for (std::size_t cut : {std::size_t{3}, std::size_t{20}, bytes.size() - 1}) {
    const std::string shorter = bytes.substr(0, cut);
    BytesIn s(shorter);
    CHECK_THROWS_AS((s.get<std::int32_t>(), s.get<double>(), s.get_tensor(), s.get_tensor()), Error);
  }
  std::string bad = bytes;
  bad[12] = 99;  // the first tensor's dtype code
  BytesIn b(bad);
  (void)b.get<std::int32_t>();
  (void)b.get<double>();
  CHECK_THROWS_AS(b.get_tensor(), Error);
}
