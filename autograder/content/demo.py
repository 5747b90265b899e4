"""A short demonstration: train the Batch Norm network on the digits and print the cost falling.

python -m autograder.content.demo
"""

from autograder.content import reference
from bnlab import data, training


def main():
    X_train, Y_train, X_test, Y_test = data.load_digits()
    layer_dims = [X_train.shape[0], 64, 64, 10]
    parameters = reference.initialize_parameters(layer_dims, seed=0)
    print(
        f"Training a {len(layer_dims) - 1}-layer network with Batch Norm on "
        f"{X_train.shape[1]} handwritten digits (Adam, mini-batches of 64)."
    )
    _, history = training.train(
        X_train,
        Y_train,
        parameters,
        reference,
        optimizer="adam",
        learning_rate=0.01,
        num_epochs=5,
        X_test=X_test,
        Y_test=Y_test,
    )
    for epoch, (cost, acc) in enumerate(zip(history["epoch_cost"], history["test_accuracy"]), 1):
        print(f"  epoch {epoch}: mean cost {cost:.4f}, test accuracy {acc:.1%} (inference mode)")


if __name__ == "__main__":
    main()
