"""Image model code (torch / torchvision), no Kedro: networks, training, knowledge distillation, teachers,
dataset distillation."""
