"""Image model code (torch / torchvision), no Kedro: networks (:mod:`.networks`), the seeded training and
evaluation recipe (:mod:`.training`), knowledge distillation and forgetting scores (:mod:`.kd`), the Keras CIFAR-10
teacher (:mod:`.teacher`), dataset distillation (:mod:`.distill`), DQ's pixel stage (:mod:`.pixel_quantization`)."""
