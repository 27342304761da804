"""Image models without Kedro: networks (:mod:`.networks`) and the seeded training/evaluation recipe (:mod:`.training`)."""
